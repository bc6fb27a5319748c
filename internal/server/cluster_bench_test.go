package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/testutil"
)

// Cross-node benchmarks. They run real nodes on one Redis and measure from the HTTP
// request on one node to the WebSocket message read by a client of another node:
//
//	go test -run '^$' -bench BenchmarkCluster -benchtime 2000x ./internal/server/
//
// docs/cluster.md has the figures from this machine.

// latencies collects durations and reports percentiles.
type latencies struct {
	mu sync.Mutex // guards d
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return
	}
	slices.Sort(l.d)
	at := func(q float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(q*float64(len(l.d))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// sentAt encodes a send time into a message and back.
func sentAt(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }

func since(msg string) (time.Duration, bool) {
	ns, err := strconv.ParseInt(msg, 10, 64)
	if err != nil {
		return 0, false
	}
	return time.Since(time.Unix(0, ns)), true
}

// receive reads pushes on c until want messages arrived, recording their latency.
func receive(b *testing.B, c *testutil.Client, want int, lat *latencies) error {
	for got := 0; got < want; {
		_ = c.Conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // fails only on a closed conn; the read reports it
		_, data, err := c.Conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("after %d of %d messages: %w", got, want, err)
		}
		r, err := protocol.DecodeResponse(data)
		if err != nil || r.Cmd != protocol.CmdMsg {
			continue
		}
		var m protocol.Message
		if err := json.Unmarshal(r.Response.Data, &m); err != nil {
			return err
		}
		if d, ok := since(m.Msg); ok {
			lat.add(d)
			got++
		}
	}
	return nil
}

// post sends one push through a keep-alive HTTP client and checks the answer.
func post(client *http.Client, rawURL string, v url.Values) error {
	resp, err := client.Post(rawURL, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return nil
}

// BenchmarkCluster_Push: 8 concurrent senders push through node 1's HTTP API to one
// user connected to node 2 (cross-node: a presence lookup in Redis and one gRPC call
// each) or to node 1 itself (local, for comparison). Reports messages per second and
// the latency from the request to the message read by the client.
func BenchmarkCluster_Push(b *testing.B) {
	b.Run("cross-node", func(b *testing.B) { benchPush(b, 1) })
	b.Run("local", func(b *testing.B) { benchPush(b, 0) })
}

func benchPush(b *testing.B, to int) {
	r := testutil.StartRedis(b)
	ns := startBenchCluster(b, 2, r.URL())
	recv := testutil.Dial(b, ns[to].WSURL, nil)
	recv.Login(101, "bob")
	benchWaitOnline(b, ns[0], "bob")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()

	var lat latencies
	errc := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { errc <- receive(b, recv, b.N, &lat) }()
	const senders = 8
	var wg sync.WaitGroup
	var sendErr error
	var once sync.Once
	for w := range senders {
		wg.Go(func() {
			for i := w; i < b.N; i += senders {
				v := url.Values{"appId": {"101"}, "userId": {"bob"}, "message": {sentAt(time.Now())}}
				if err := post(client, ns[0].HTTPURL+"/user/sendMessage", v); err != nil {
					once.Do(func() { sendErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if sendErr != nil {
		b.Fatal(sendErr)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	lat.report(b)
}

// BenchmarkCluster_Broadcast3Nodes: one broadcast at a time through node 1 to an app
// with 100 clients on each of 3 nodes. Reports broadcasts per second and the latency
// from the request to the message read by each of the 300 clients.
func BenchmarkCluster_Broadcast3Nodes(b *testing.B) {
	r := testutil.StartRedis(b)
	ns := startBenchCluster(b, 3, r.URL())
	const perNode = 100
	var clients []*testutil.Client
	for i, n := range ns {
		for j := range perNode {
			c := testutil.Dial(b, n.WSURL, nil)
			c.Login(202, fmt.Sprintf("u%d-%d", i, j))
			clients = append(clients, c)
		}
	}
	client := &http.Client{}
	defer client.CloseIdleConnections()

	var lat latencies
	errs := make(chan error, len(clients))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() { errs <- receive(b, c, b.N, &lat) })
	}
	for range b.N {
		v := url.Values{"appId": {"202"}, "message": {sentAt(time.Now())}}
		if err := post(client, ns[0].HTTPURL+"/user/sendMessageAll", v); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "broadcasts/s")
	lat.report(b)
}

// startBenchCluster is startCluster for benchmarks.
func startBenchCluster(b *testing.B, n int, redisURL string) []*testutil.Server {
	b.Helper()
	var nodes []*testutil.Server
	for i := range n {
		id := fmt.Sprintf("b%d", i+1)
		nodes = append(nodes, testutil.StartServer(b, func(c *server.Config) {
			c.NodeID = id
			c.Cluster.Redis = redisURL
			c.Cluster.RedisPrefix = "bench-" + strings.ReplaceAll(b.Name(), "/", "-")
			c.LogLevel = "error"
		}))
	}
	testutil.Eventually(b, 20*time.Second, func() error {
		for _, s := range nodes {
			if st := benchState(b, s); st != n {
				return fmt.Errorf("a node routes to %d nodes, want %d", st, n)
			}
		}
		return nil
	})
	return nodes
}

func benchWaitOnline(b *testing.B, s *testutil.Server, user string) {
	b.Helper()
	testutil.Eventually(b, 10*time.Second, func() error {
		resp, err := http.Get(s.HTTPURL + "/user/online?appId=101&userId=" + user)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if !strings.Contains(string(body), `"online":true`) {
			return fmt.Errorf("%s not online yet", user)
		}
		return nil
	})
}

// benchState returns how many nodes s routes to.
func benchState(b *testing.B, s *testutil.Server) int {
	b.Helper()
	resp, err := http.Get(s.HTTPURL + "/system/state")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		Data api.State `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		b.Fatal(err)
	}
	return a.Data.Cluster.Nodes
}
