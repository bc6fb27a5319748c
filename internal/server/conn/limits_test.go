//go:build linux

package conn

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/gows-dev/gows/internal/testcert"
)

// remoteHandler echoes like echoHandler and records what Accept saw as RemoteAddr.
type remoteHandler struct {
	echoHandler
	remotes chan string
}

func (h *remoteHandler) Accept(r *http.Request) error {
	h.remotes <- r.RemoteAddr
	return h.echoHandler.Accept(r)
}

func TestEngine_MaxConnsPerIPRefuses429(t *testing.T) {
	e, url := startEngine(t, Config{MaxConnsPerIP: 2}, &echoHandler{})
	var open []*websocket.Conn
	for range 2 {
		c, _, err := websocket.DefaultDialer.Dial(url+"/echo", nil)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	_, resp, err := websocket.DefaultDialer.Dial(url+"/echo", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third connection: %v %v, want 429", resp, err)
	}
	if e.Stats().RefusedPerIP != 1 {
		t.Fatalf("RefusedPerIP = %d", e.Stats().RefusedPerIP)
	}
	// Another source address is counted separately.
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		return (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 9)}}).Dial(network, addr)
	}}
	c, _, err := d.Dial(url+"/echo", nil)
	if err != nil {
		t.Fatalf("other source address: %v", err)
	}
	c.Close()
	// Closing one frees its slot.
	open[0].Close()
	eventually(t, 5*time.Second, func() error {
		c, _, err := websocket.DefaultDialer.Dial(url+"/echo", nil)
		if err == nil {
			c.Close()
		}
		return err
	})
	open[1].Close()
}

// An IPv6 client is counted by its /64: addresses of one /64 share the allowance,
// another /64 has its own.
func TestEngine_MaxConnsPerIPCountsIPv6By64(t *testing.T) {
	_, url := startEngine(t, Config{MaxConnsPerIP: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, &echoHandler{})
	dial := func(client string) (*websocket.Conn, int) {
		c, resp, err := websocket.DefaultDialer.Dial(url+"/echo", http.Header{"X-Forwarded-For": {client}})
		if err != nil {
			if resp == nil {
				t.Fatalf("%s: %v", client, err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { c.Close() })
		return c, http.StatusSwitchingProtocols
	}
	for _, tc := range []struct {
		client string
		want   int
	}{
		{"2001:db8:1:2::1", http.StatusSwitchingProtocols},
		{"2001:db8:1:2:ffff::9", http.StatusTooManyRequests}, // the same /64
		{"2001:db8:1:3::1", http.StatusSwitchingProtocols},   // the next /64
		{"203.0.113.7", http.StatusSwitchingProtocols},
		{"203.0.113.8", http.StatusSwitchingProtocols}, // IPv4: per address
	} {
		if _, got := dial(tc.client); got != tc.want {
			t.Fatalf("%s: HTTP %d, want %d", tc.client, got, tc.want)
		}
	}
}

func TestEngine_TrustedProxyForwardedFor(t *testing.T) {
	cases := []struct {
		name    string
		trusted []netip.Prefix
		xff     string
		want    string
	}{
		{"untrusted peer: header ignored", nil, "203.0.113.7", "127.0.0.1"},
		{"trusted peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "203.0.113.7", "203.0.113.7"},
		{"skips trusted hops", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}, "198.51.100.1, 203.0.113.7, 10.1.1.1", "203.0.113.7"},
		{"malformed chain", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, "bogus", "127.0.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &remoteHandler{remotes: make(chan string, 1)}
			_, url := startEngine(t, Config{TrustedProxies: tc.trusted}, h)
			c, _, err := websocket.DefaultDialer.Dial(url+"/echo", http.Header{"X-Forwarded-For": {tc.xff}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got := <-h.remotes
			host, _, _ := net.SplitHostPort(got)
			if host != tc.want {
				t.Fatalf("client address %s, want %s", got, tc.want)
			}
		})
	}
}

func TestEngine_TLSEcho(t *testing.T) {
	cert := testcert.Certificate(t)
	_, url := startEngine(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, &echoHandler{})
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	c, _, err := d.Dial("wss"+url[2:]+"/echo", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, msg := range []string{"hello over tls", string(make([]byte, 40000))} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != msg {
			t.Fatalf("echo: %v (len %d)", err, len(got))
		}
	}
	// A plain-text client is not served.
	if _, _, err := websocket.DefaultDialer.Dial(url+"/echo", nil); err == nil {
		t.Fatal("plain ws:// worked on a TLS engine")
	}
}

// eventually polls fn until it succeeds or timeout passes (testutil cannot be imported
// here: it depends on this package).
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not met after %s: %v", timeout, err)
		}
		<-tick.C
	}
}

// TakeToken's strike count is what the server closes a connection on (4006, past
// MessageBurst): it must grow without bound for a client that keeps sending well above
// the rate however evenly it paces its messages, and stay small for one that keeps to it
// on average, bursts included.
func TestConn_TakeTokenStrikes(t *testing.T) {
	const rate, burst = 5, 10
	// run sends n messages every step ms (0: all in the same millisecond) after warm
	// messages at once, and returns the highest strike count and the last one.
	run := func(warm, n int, step int64) (highest, last int) {
		c := &Conn{e: &Engine{cfg: Config{MessageRate: rate, MessageBurst: burst}}, lp: &loop{now: 1}}
		for range warm {
			_, last = c.TakeToken()
			highest = max(highest, last)
		}
		for range n {
			c.lp.now += step
			_, last = c.TakeToken()
			highest = max(highest, last)
		}
		return highest, last
	}
	cases := []struct {
		name   string
		warm   int
		n      int
		step   int64
		closed bool // strikes pass burst at some point
		shed   bool // strikes back to 0 at the end
	}{
		{"flood in one millisecond", 0, 300, 0, true, false},
		{"8x the rate, evenly paced", 0, 400, 1000 / (8 * rate), true, false},
		{"3x the rate, evenly paced", 0, 400, 1000 / (3 * rate), true, false},
		{"1.5x the rate, evenly paced", 0, 400, 1000 / (3 * rate / 2), false, false},
		{"at the rate", 0, 400, 1000 / rate, false, true},
		{"a burst over the bucket, then half the rate", 2 * burst, 100, 2000 / rate, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			highest, last := run(tc.warm, tc.n, tc.step)
			if (highest > burst) != tc.closed {
				t.Fatalf("highest strike count %d (burst %d); want past it: %v", highest, burst, tc.closed)
			}
			if tc.shed && last != 0 {
				t.Fatalf("strike count %d at the end, want 0", last)
			}
		})
	}
}
