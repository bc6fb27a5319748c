package launcher

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the launcher's writers and the test's reads, that
// signals each write.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{wrote: make(chan struct{}, 1)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor waits until cond holds for the buffer's text.
func (s *syncBuffer) waitFor(t *testing.T, cond func(string) bool) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for !cond(s.String()) {
		select {
		case <-s.wrote:
		case <-timeout:
			t.Fatalf("output never matched; got:\n%s", s.String())
		}
	}
}

func TestRun_RestartsDeadNodesAndPrefixesLines(t *testing.T) {
	out, errOut := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Nodes:      2,
			Exe:        "/bin/sh",
			Args:       func(i int) []string { return []string{"-c", fmt.Sprintf("echo hello %d; echo oops >&2; exit 3", i)} },
			Name:       func(i int) string { return fmt.Sprintf("node-%d", i) },
			Stdout:     out,
			Stderr:     errOut,
			MinBackoff: 10 * time.Millisecond,
			MaxBackoff: 20 * time.Millisecond,
			// Restarted however often it dies: this test stops the launcher itself.
			MaxQuickDeaths: -1,
		})
	}()
	// Each node printed, died and was started again at least twice.
	out.waitFor(t, func(s string) bool {
		return strings.Count(s, "[node-0] hello 0\n") >= 3 && strings.Count(s, "[node-1] hello 1\n") >= 3
	})
	errOut.waitFor(t, func(s string) bool { return strings.Contains(s, "[node-1] oops\n") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "[node-") {
			t.Fatalf("unprefixed or interleaved line %q", l)
		}
	}
}

func TestRun_StopsNodesWithSIGTERM(t *testing.T) {
	out := newSyncBuffer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Nodes: 3,
			Exe:   "/bin/sh",
			Args: func(int) []string {
				return []string{"-c", "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done"}
			},
			Name:   func(i int) string { return fmt.Sprint("n", i) },
			Stdout: out,
		})
	}()
	out.waitFor(t, func(s string) bool { return strings.Count(s, " up\n") == 3 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("launcher did not stop")
	}
	if got := strings.Count(out.String(), " bye\n"); got != 3 {
		t.Fatalf("%d nodes stopped cleanly, want 3:\n%s", got, out.String())
	}
}

// A node that can never start (its port taken, say) was restarted forever, the launcher
// printing its error every 30 s and never exiting. After MaxQuickDeaths deaths in a row
// it stops every node and returns an error naming the node.
func TestRun_GivesUpOnANodeThatKeepsDying(t *testing.T) {
	out, errOut := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, Config{
		Nodes: 2,
		Exe:   "/bin/sh",
		Args: func(i int) []string {
			if i == 1 {
				return []string{"-c", "echo 'bind: address already in use' >&2; exit 1"}
			}
			return []string{"-c", "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done"}
		},
		Name:           func(i int) string { return fmt.Sprint("n", i) },
		Stdout:         out,
		Stderr:         errOut,
		MinBackoff:     time.Millisecond,
		MaxBackoff:     2 * time.Millisecond,
		MaxQuickDeaths: 3,
	})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "n1 died 3 times in a row") {
		t.Fatalf("Run returned %v (context: %v), want n1's three deaths", err, ctx.Err())
	}
	if got := strings.Count(errOut.String(), "[n1] bind: address already in use\n"); got != 3 {
		t.Errorf("n1 ran %d times, want 3:\n%s", got, errOut.String())
	}
	// The healthy node was stopped as on Ctrl-C, not left running or killed. (If it had
	// not yet started when n1 gave up, it printed neither.)
	if o := out.String(); strings.Count(o, "[n0] up\n") != strings.Count(o, "[n0] bye\n") {
		t.Errorf("n0 was not stopped cleanly:\n%s", o)
	}
}

func TestConfig_Validate(t *testing.T) {
	ok := Config{Nodes: 1, Exe: "x", Args: func(int) []string { return nil }, Name: func(int) string { return "" }}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := ok
	bad.Nodes = 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "nodes") {
		t.Fatalf("want a nodes error, got %v", err)
	}
}
