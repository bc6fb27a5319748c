package tui

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

// deadURL returns a ws:// URL on a loopback port nothing listens on.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "ws://" + addr + "/acc"
}

// runClient runs c until the test ends and returns a function that waits for Run's result.
func runClient(t *testing.T, ctx context.Context, c *Client) func() error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		for range c.Events() { // drain, so that Run is never stuck delivering
		}
		<-done
	})
	return func() error {
		for range c.Events() {
		}
		err := <-done
		done <- err
		return err
	}
}

func TestClient_BacksOffBetweenFailedAttempts(t *testing.T) {
	cfg := chatConfig(deadURL(t), "alice")
	cfg.MinBackoff, cfg.MaxBackoff = 20*time.Millisecond, 80*time.Millisecond
	c := NewClient(cfg)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wait := runClient(t, ctx, c)

	if _, err := c.Send(protocol.CmdPing, nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send before login = %v, want ErrNotConnected", err)
	}
	// Each attempt is Connecting, then Reconnecting with the wait before the next one:
	// in [d/2, d) for d = 20, 40, 80, 80ms.
	wantMax := []time.Duration{20, 40, 80, 80}
	var prev State = -1
	attempt := 0
	for ev := range c.Events() {
		se, ok := ev.(StatusEvent)
		if !ok {
			t.Fatalf("unexpected %T", ev)
		}
		if se.State == StateReconnecting && prev == StateConnecting {
			d := wantMax[attempt] * time.Millisecond
			if se.RetryIn < d/2 || se.RetryIn >= d {
				t.Errorf("attempt %d: retry in %s, want [%s, %s)", attempt+1, se.RetryIn, d/2, d)
			}
			if se.Err == nil || !strings.Contains(se.Err.Error(), "connect") {
				t.Errorf("attempt %d: error %v, want the failed connect", attempt+1, se.Err)
			}
			attempt++
			if attempt == len(wantMax) {
				cancel()
				break
			}
		}
		prev = se.State
	}
	if err := wait(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

// startClientWithPeer starts a server with user "peer" logged in, and a Client for
// "alice" that runs until cancel is called or the test ends; wait returns Run's result.
func startClientWithPeer(t *testing.T) (peer *testutil.Client, c *Client, cancel context.CancelFunc, wait func() error) {
	t.Helper()
	srv := testutil.StartServer(t)
	peer = testutil.Dial(t, srv.WSURL, nil)
	peer.Login(101, "peer")
	c = NewClient(chatConfig(srv.WSURL, "alice"))
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return peer, c, cancel, runClient(t, ctx, c)
}

func TestClient_DeliversFramesAfterConnected(t *testing.T) {
	_, c, cancel, wait := startClientWithPeer(t)

	next := func() Event {
		t.Helper()
		select {
		case ev := <-c.Events():
			return ev
		case <-time.After(waitTimeout):
			t.Fatal("no event")
			return nil
		}
	}
	if ev := next(); ev != (StatusEvent{State: StateConnecting}) {
		t.Fatalf("first event %+v, want connecting", ev)
	}
	if ev := next(); ev != (StatusEvent{State: StateConnected}) {
		t.Fatalf("second event %+v, want connected", ev)
	}
	seq, err := c.Send(protocol.CmdPing, nil)
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, ok := next().(FrameEvent)
		if !ok {
			t.Fatalf("unexpected status event while connected")
		}
		if ev.Frame.Seq == seq {
			if ev.Frame.Cmd != protocol.CmdPing || ev.Frame.Response.Code != protocol.OK {
				t.Errorf("ping answer %+v", ev.Frame)
			}
			break
		}
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if _, err := c.Send(protocol.CmdPing, nil); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Send after Run = %v, want ErrNotConnected", err)
	}
}

// nextStatus returns the next StatusEvent from c, skipping frames.
func nextStatus(t *testing.T, c *Client) StatusEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if se, ok := ev.(StatusEvent); ok {
				return se
			}
		case <-time.After(waitTimeout):
			t.Fatal("no status event")
		}
	}
}

// TestClient_HandshakeRefusedBeforeLoginEndsTheSession dials a path the server has no
// endpoint at: the 404 and the server's message are reported, and the client stops
// instead of retrying a request that cannot succeed.
func TestClient_HandshakeRefusedBeforeLoginEndsTheSession(t *testing.T) {
	srv := testutil.StartServer(t)
	c := NewClient(chatConfig(strings.TrimSuffix(srv.WSURL, "/acc")+"/nope", "alice"))
	wait := runClient(t, t.Context(), c)

	if se := nextStatus(t, c); se.State != StateConnecting {
		t.Fatalf("first event %+v, want connecting", se)
	}
	se := nextStatus(t, c)
	he, ok := errors.AsType[*HandshakeError](se.Err)
	if se.State != StateDisconnected || !ok || he.Status != http.StatusNotFound || !strings.Contains(he.Msg, "no websocket endpoint at /nope") {
		t.Fatalf("second event %+v (%v), want disconnected by a 404 with the server's message", se, se.Err)
	}
	if err := wait(); !errors.Is(err, he) {
		t.Errorf("Run = %v, want the refusal", err)
	}
}

// TestClient_HandshakeRefusedAfterALoginIsRetried: once a login has worked the URL is
// right, so a 404 from what answers on the address next (a proxy while the server
// restarts) is retried.
func TestClient_HandshakeRefusedAfterALoginIsRetried(t *testing.T) {
	srv := testutil.StartServer(t)
	c := NewClient(chatConfig(srv.WSURL, "alice"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wait := runClient(t, ctx, c)
	for nextStatus(t, c).State != StateConnected {
	}
	addr := srv.WSAddr().String()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	proxy := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream is restarting", http.StatusNotFound)
		}),
		ReadHeaderTimeout: time.Second,
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- proxy.Serve(ln) }()
	defer func() {
		_ = proxy.Close() // the test is over
		<-served
	}()

	var se StatusEvent
	for {
		se = nextStatus(t, c)
		if _, ok := errors.AsType[*HandshakeError](se.Err); ok || se.State == StateDisconnected {
			break
		}
	}
	he, ok := errors.AsType[*HandshakeError](se.Err)
	if se.State != StateReconnecting || !ok || he.Status != http.StatusNotFound || he.Msg != "upstream is restarting" {
		t.Fatalf("event %+v (%v), want reconnecting after a 404 with its message", se, se.Err)
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

func TestHandshakeError_PermanentFor4xxButTimeoutAndTooMany(t *testing.T) {
	for _, tt := range []struct {
		status int
		want   bool
	}{
		{400, true}, {401, true}, {403, true}, {404, true}, {426, true},
		{408, false}, {429, false}, {200, false}, {500, false}, {502, false}, {503, false},
	} {
		if got := (&HandshakeError{Status: tt.status}).permanent(); got != tt.want {
			t.Errorf("status %d: permanent = %v, want %v", tt.status, got, tt.want)
		}
	}
}

// TestClient_WritesQueuedRequestsBeforeClosing sends a burst of direct messages and stops
// the client at once, as /quit and Ctrl-C do: every request Send accepted reaches the
// server before the close frame.
func TestClient_WritesQueuedRequestsBeforeClosing(t *testing.T) {
	peer, c, cancel, wait := startClientWithPeer(t)
	for nextStatus(t, c).State != StateConnected {
	}

	const n = 20
	for i := range n {
		if _, err := c.Send(protocol.CmdSend, protocol.SendData{To: "peer", Type: protocol.TypeText, Msg: strconv.Itoa(i)}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	for i := range n {
		if got := testutil.Data[protocol.Message](t, peer.Push(protocol.CmdMsg)).Msg; got != strconv.Itoa(i) {
			t.Fatalf("peer got %q, want %d", got, i)
		}
	}
}

// muteProxy is a TCP proxy in front of a server that can go silent: once muted it
// forwards nothing more either way (what it reads is dropped) and keeps every connection
// open, as a stopped server, or a network path gone dead without a reset, does.
type muteProxy struct {
	ln    net.Listener
	muted atomic.Bool
	mu    sync.Mutex // guards conns
	conns []net.Conn
	wg    sync.WaitGroup
}

// startMuteProxy proxies a loopback port to target until the test ends.
func startMuteProxy(t *testing.T, target string) *muteProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &muteProxy{ln: ln}
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return // the listener was closed
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				_ = in.Close() // the client sees a refused connection
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { p.forward(out, in) })
			p.wg.Go(func() { p.forward(in, out) })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// forward copies from src to dst until either fails, dropping what it reads while muted.
func (p *muteProxy) forward(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if p.muted.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// TestClient_SilentServerIsGivenUpOn mutes a real server's connection behind a proxy:
// the client gives the connection up after two heartbeats and answerSlack of silence,
// says why in words, and reconnects.
func TestClient_SilentServerIsGivenUpOn(t *testing.T) {
	srv := testutil.StartServer(t)
	proxy := startMuteProxy(t, srv.WSAddr().String())
	cfg := chatConfig(strings.Replace(srv.WSURL, srv.WSAddr().String(), proxy.ln.Addr().String(), 1), "alice")
	cfg.HeartbeatInterval = 100 * time.Millisecond
	c := NewClient(cfg)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wait := runClient(t, ctx, c)
	for nextStatus(t, c).State != StateConnected {
	}
	proxy.muted.Store(true)
	se := nextStatus(t, c)
	if want := "no answer from the server for 3.2s"; se.State != StateReconnecting ||
		!errors.Is(se.Err, errSilent) || se.Err.Error() != want {
		t.Errorf("event %+v (%v), want reconnecting with %q", se, se.Err, want)
	}
	cancel()
	if err := wait(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}
