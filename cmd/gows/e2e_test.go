package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

// runAsGowsEnv, set to 1 in a test binary's environment, makes it run as gows itself
// (main's run with its arguments): tests that need a gows executable on PATH, such as the
// shell completion scripts, link to the test binary instead of building one.
const runAsGowsEnv = "GOWS_TEST_RUN_AS_GOWS"

// TestMain fails the package if a test leaves goroutines behind (serve must stop
// everything it started before it returns).
func TestMain(m *testing.M) {
	if os.Getenv(runAsGowsEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// boundAddrs finds the addresses the node logged when it started listening (JSON logs).
func boundAddrs(logs string) (httpAddr, wsAddr string, err error) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var rec struct {
			HTTPAddr string `json:"http_addr"`
			WSAddr   string `json:"ws_addr"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.HTTPAddr != "" && rec.WSAddr != "" {
			return rec.HTTPAddr, rec.WSAddr, nil
		}
	}
	return "", "", fmt.Errorf("no log record with http_addr and ws_addr yet: %w", testutil.ErrNotYet)
}

// servedNode is `gows serve` running in the test through the real command tree.
type servedNode struct {
	httpAddr, wsAddr string
	logs             *testutil.LogBuffer
	cancel           context.CancelFunc // what SIGINT/SIGTERM do through signal.NotifyContext
	exit             chan int           // serve's exit code, once
}

// startServe runs `gows serve` on loopback ports the kernel picks and waits until it has
// logged its bound addresses. The test's cleanup stops it (if the test did not).
func startServe(t *testing.T) *servedNode {
	t.Helper()
	isolateEnv(t)
	prevLogger := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prevLogger) }) // serve sets the default logger

	n := &servedNode{logs: &testutil.LogBuffer{}, exit: make(chan int, 1)}
	s := &streams{in: strings.NewReader(""), out: io.Discard, err: n.logs}
	ctx, cancel := context.WithCancel(t.Context())
	n.cancel = cancel
	go func() {
		n.exit <- execute(ctx, newRootCmd(s), s, []string{"serve",
			"--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
			"--log-format", "json", "--log-level", "debug", "--drain-timeout", "5s",
		})
	}()
	t.Cleanup(func() { // stop serve even if the test failed half-way
		cancel()
		if code := <-n.exit; code != exitOK {
			t.Errorf("serve exit code = %d; logs:\n%s", code, n.logs.String())
		}
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		select {
		case code := <-n.exit:
			t.Fatalf("serve exited early with %d; logs:\n%s", code, n.logs.String())
		default:
		}
		var err error
		n.httpAddr, n.wsAddr, err = boundAddrs(n.logs.String())
		return err
	})
	return n
}

// TestServe_EndToEnd runs `gows serve` on loopback ports the kernel picks, logs a client
// in, pushes to it through the HTTP API, then cancels the command as SIGTERM would and
// expects a close 1001 and exit code 0.
func TestServe_EndToEnd(t *testing.T) {
	n := startServe(t)
	httpAddr, wsAddr := n.httpAddr, n.wsAddr

	resp, err := http.Get("http://" + httpAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: status %d", resp.StatusCode)
	}

	c := testutil.Dial(t, "ws://"+wsAddr+"/acc", nil)
	c.Login(101, "u1")
	resp, err = http.PostForm("http://"+httpAddr+"/user/sendMessage",
		url.Values{"appId": {"101"}, "userId": {"u1"}, "msgId": {"1"}, "message": {"hi"}})
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // the push below is the proof
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /user/sendMessage: status %d", resp.StatusCode)
	}
	push := testutil.Data[protocol.Message](t, c.Push(protocol.CmdMsg))
	if push.Msg != "hi" {
		t.Errorf("pushed msg = %q, want %q", push.Msg, "hi")
	}

	n.cancel()
	var ce *websocket.CloseError
	if err := c.ReadClose(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("client saw %v, want close 1001 (going away)", err)
	}
	select {
	case code := <-n.exit:
		n.exit <- code // for the cleanup
		if code != exitOK {
			t.Errorf("exit code = %d, want 0; logs:\n%s", code, n.logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("serve did not stop within 10s; logs:\n%s", n.logs.String())
	}
}
