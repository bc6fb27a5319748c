package tui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

// lineHarness runs runLines over a fakeConn, with stdin an os.Pipe.
type lineHarness struct {
	conn *fakeConn
	in   *os.File
	out  *output
	done chan error
}

func startLines(t *testing.T, cfg Config) *lineHarness {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	h := &lineHarness{conn: newFakeConn(), in: w, out: &output{}, done: make(chan error, 1)}
	go func() {
		h.done <- runLines(t.Context(), cfg, h.conn, r, h.out)
		_ = r.Close() // runLines has stopped reading
	}()
	t.Cleanup(func() {
		_ = w.Close()
		close(h.conn.events) // the Conn stops: runLines returns if it has not yet
		<-h.done
	})
	return h
}

// wait returns runLines's result, failing the test if it does not return in time.
func (h *lineHarness) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for the cleanup
		return err
	case <-time.After(waitTimeout):
		t.Fatal("runLines did not return")
		return nil
	}
}

func (h *lineHarness) write(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(h.in, s); err != nil {
		t.Fatal(err)
	}
}

// waitSent waits until a send request with msg has been made.
func (h *lineHarness) waitSent(t *testing.T, msg string) sent {
	t.Helper()
	var got sent
	testutil.Eventually(t, waitTimeout, func() error {
		for _, s := range h.conn.requests() {
			if d, ok := s.data.(protocol.SendData); ok && d.Msg == msg {
				got = s
				return nil
			}
		}
		return fmt.Errorf("%q not sent; sent %v: %w", msg, h.conn.requests(), testutil.ErrNotYet)
	})
	return got
}

func (h *lineHarness) sentTexts() []string {
	var texts []string
	for _, s := range h.conn.requests() {
		if d, ok := s.data.(protocol.SendData); ok {
			texts = append(texts, d.Msg)
		}
	}
	return texts
}

func TestLines_InputWaitsForTheConnection(t *testing.T) {
	h := startLines(t, testConfig())
	h.write(t, "early bird\n")
	h.conn.events <- StatusEvent{State: StateConnecting}
	// The event above was taken, so the loop has run; the line must still be waiting.
	if texts := h.sentTexts(); len(texts) != 0 {
		t.Fatalf("sent %q before the login", texts)
	}
	h.conn.events <- StatusEvent{State: StateConnected}
	h.waitSent(t, "early bird")

	// A reconnect holds the next line until the connection is back.
	h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second}
	h.write(t, "while away\n")
	h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second / 2}
	h.conn.events <- StatusEvent{State: StateConnecting}
	if texts := h.sentTexts(); len(texts) != 1 {
		t.Fatalf("sent %q while disconnected", texts)
	}
	h.conn.events <- StatusEvent{State: StateConnected}
	h.waitSent(t, "while away")
	mark := h.out.waitFor(t, 0, "-- connection lost: unknown reason; reconnecting")
	h.out.waitFor(t, mark, "-- reconnected")
}

func TestLines_EndOfInputWaitsForAnswers(t *testing.T) {
	h := startLines(t, testConfig())
	h.conn.events <- StatusEvent{State: StateConnected}
	h.conn.events <- answer(h.conn.find(t, protocol.CmdUsers), protocol.OK, "", protocol.UsersResult{})
	h.write(t, "/msg bob last words\n")
	if err := h.in.Close(); err != nil {
		t.Fatal(err)
	}
	s := h.waitSent(t, "last words")
	select {
	case err := <-h.done:
		t.Fatalf("runLines returned %v before the answer", err)
	case h.conn.events <- answer(s, protocol.OK, "", nil):
	}
	if err := h.wait(t); err != nil {
		t.Errorf("runLines = %v, want nil", err)
	}
	if !strings.Contains(h.out.text(), "-> *bob* last words") {
		t.Errorf("output:\n%s", h.out.text())
	}
}

func TestLines_EndOfInputGivesUpAfterTheFlushTimeout(t *testing.T) {
	cfg := testConfig()
	cfg.FlushTimeout = 50 * time.Millisecond
	h := startLines(t, cfg)
	h.conn.events <- StatusEvent{State: StateConnected}
	h.write(t, "never answered\n")
	h.waitSent(t, "never answered")
	if err := h.in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.wait(t); err != nil {
		t.Errorf("runLines = %v, want nil", err)
	}
	if !strings.Contains(h.out.text(), "!! gave up waiting for 2 answers") {
		t.Errorf("output:\n%s", h.out.text())
	}
}

func TestLines_FailedAttemptsAreReportedOncePerOutage(t *testing.T) {
	h := startLines(t, testConfig())
	refused := fmt.Errorf("connect: connection refused")
	for range 3 {
		h.conn.events <- StatusEvent{State: StateConnecting}
		h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: refused}
	}
	h.conn.events <- StatusEvent{State: StateConnected}
	h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: refused}
	h.conn.events <- StatusEvent{State: StateConnecting}
	h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: refused}
	h.conn.events <- StatusEvent{State: StateConnected}
	h.out.waitFor(t, 0, "-- reconnected")
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(h.out.text()), "\n") {
		got = append(got, l[len("[15:04:05] "):])
	}
	want := []string{
		"-- cannot connect: connect: connection refused; retrying",
		"-- connected to 127.0.0.1:8089 as alice",
		"-- connection lost: connect: connection refused; reconnecting",
		"-- reconnected",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLines_QuitStopsAtOnce(t *testing.T) {
	h := startLines(t, testConfig())
	h.conn.events <- StatusEvent{State: StateConnected}
	h.write(t, "/quit\n")
	if err := h.wait(t); err != nil {
		t.Errorf("runLines = %v, want nil", err)
	}
}
