package tui

import (
	"context"
	"errors"
	"net"
	"strings"
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

func TestClient_DeliversFramesAfterConnected(t *testing.T) {
	srv := testutil.StartServer(t)
	peer := testutil.Dial(t, srv.WSURL, nil)
	peer.Login(101, "peer")
	c := NewClient(chatConfig(srv.WSURL, "alice"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wait := runClient(t, ctx, c)

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
