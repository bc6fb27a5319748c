package tui

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// sent is one request a fakeConn was asked to send.
type sent struct {
	seq, cmd string
	data     any
}

// fakeConn is a Conn that records requests and delivers the events a test pushes.
type fakeConn struct {
	events chan Event

	mu      sync.Mutex // guards sent, offline and n: line mode sends from its own goroutine
	sent    []sent
	offline bool // Send fails with ErrNotConnected
	n       int
}

func newFakeConn() *fakeConn { return &fakeConn{events: make(chan Event)} }

func (f *fakeConn) Events() <-chan Event { return f.events }

func (f *fakeConn) Send(cmd string, data any) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.offline {
		return "", ErrNotConnected
	}
	f.n++
	seq := "s" + strconv.Itoa(f.n)
	f.sent = append(f.sent, sent{seq: seq, cmd: cmd, data: data})
	return seq, nil
}

// last returns the last request sent, failing the test when there is none.
func (f *fakeConn) last(t *testing.T) sent {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sent) == 0 {
		t.Fatal("nothing sent")
	}
	return f.sent[len(f.sent)-1]
}

// find returns the last request with cmd.
// find waits for a cmd request and returns the latest one: the code under test sends it
// from its own goroutine, possibly just after the event that caused it was taken.
func (f *fakeConn) find(t *testing.T, cmd string) sent {
	t.Helper()
	var got sent
	testutil.Eventually(t, waitTimeout, func() error {
		reqs := f.requests()
		for i := len(reqs) - 1; i >= 0; i-- {
			if reqs[i].cmd == cmd {
				got = reqs[i]
				return nil
			}
		}
		return fmt.Errorf("no %s request sent; sent %v: %w", cmd, reqs, testutil.ErrNotYet)
	})
	return got
}

func testConfig() Config {
	cfg := Default()
	cfg.URL = "ws://127.0.0.1:8089/acc"
	cfg.UserID = "alice"
	cfg.AppID = 101
	return cfg
}

// testClock returns a clock that starts at 12:00:00 UTC and advances a second per call,
// so every entry has a distinct, stable time.
func testClock() func() time.Time {
	t := time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

// plain returns the text of v as a terminal without colours or other attributes shows
// it: its SGR sequences removed. Any other escape sequence or control character but the
// newline fails the test: the model only styles text, it never moves the cursor or
// changes the terminal, and lets no such character in from the network. It also fails
// unless v asks for the alternate screen.
func plain(t *testing.T, v tea.View) string {
	t.Helper()
	if !v.AltScreen {
		t.Error("the view does not ask for the alternate screen")
	}
	var b strings.Builder
	p := ansi.GetParser()
	defer ansi.PutParser(p)
	s := v.Content
	var state byte
	for len(s) > 0 {
		p.Reset()
		seq, _, n, next := ansi.DecodeSequence(s, state, p)
		switch {
		case ansi.HasCsiPrefix(seq) && p.Command() == 'm':
		case seq == "\n" || seq[0] >= 0x20 && seq[0] != 0x7f && !ansi.HasEscPrefix(seq):
			b.WriteString(seq)
		default:
			t.Errorf("the view holds %q, not only text and styles: %q", seq, v.Content)
		}
		s, state = s[n:], next
	}
	return b.String()
}

// answer is the server's answer to request s.
func answer(s sent, code protocol.Code, codeMsg string, data any) FrameEvent {
	return FrameEvent{Frame: frame(s.seq, s.cmd, code, codeMsg, data)}
}

// push is a server push.
func push(cmd string, m protocol.Message) FrameEvent {
	return FrameEvent{Frame: frame("m1", cmd, protocol.OK, "Ok", m)}
}

func frame(seq, cmd string, code protocol.Code, codeMsg string, data any) protocol.Response {
	raw := json.RawMessage("null")
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			panic(err)
		}
		raw = b
	}
	if codeMsg == "" {
		codeMsg = code.Text()
	}
	return protocol.Response{Seq: seq, Cmd: cmd, Response: protocol.Result{Code: code, CodeMsg: codeMsg, Data: raw}}
}

// golden compares got with testdata/name.golden, rewriting the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", name, path, got, want)
	}
}

// requests returns a copy of the requests sent so far.
func (f *fakeConn) requests() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.sent...)
}

func (f *fakeConn) setOffline(v bool) {
	f.mu.Lock()
	f.offline = v
	f.mu.Unlock()
}
