package tui

import (
	"bufio"
	"errors"
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
	exited := make(chan struct{}) // closed when runLines has returned, even if a test took its result
	go func() {
		defer close(exited)
		h.done <- runLines(t.Context(), cfg, h.conn, r, h.out)
		_ = r.Close() // runLines has stopped reading
	}()
	t.Cleanup(func() {
		_ = w.Close()
		close(h.conn.events) // the Conn stops: runLines returns if it has not yet
		<-exited
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

// answerThenEnd answers request s, failing if runLines returned before the answer, and
// expects runLines to return nil after it.
func (h *lineHarness) answerThenEnd(t *testing.T, s sent) {
	t.Helper()
	select {
	case err := <-h.done:
		h.done <- err // for wait
		t.Fatalf("runLines returned %v before the answer to %s %v", err, s.cmd, s.data)
	case h.conn.events <- answer(s, protocol.OK, "", nil):
	}
	if err := h.wait(t); err != nil {
		t.Errorf("runLines = %v, want nil", err)
	}
}

// closeInput ends runLines's input.
func (h *lineHarness) closeInput(t *testing.T) {
	t.Helper()
	if err := h.in.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitSentCount waits until at least n requests have been made.
func (h *lineHarness) waitSentCount(t *testing.T, n int) {
	t.Helper()
	testutil.Eventually(t, waitTimeout, func() error {
		if got := len(h.conn.requests()); got < n {
			return fmt.Errorf("%d requests sent, want %d: %w", got, n, testutil.ErrNotYet)
		}
		return nil
	})
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
	h.answerThenEnd(t, s)
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

// TestLines_QuitWaitsForWhatWasSentBeforeIt is the script "text, then /quit": /quit ends
// the input like its end does, so the line before it is sent and answered before
// runLines returns, and nothing after it is read.
func TestLines_QuitWaitsForWhatWasSentBeforeIt(t *testing.T) {
	h := startLines(t, testConfig())
	h.conn.events <- StatusEvent{State: StateConnected}
	h.conn.events <- answer(h.conn.find(t, protocol.CmdUsers), protocol.OK, "", protocol.UsersResult{})
	h.write(t, "/msg bob last words\n/quit\nafter quit\n")
	s := h.waitSent(t, "last words")
	h.answerThenEnd(t, s)
	if !strings.Contains(h.out.text(), "-> *bob* last words") {
		t.Errorf("output lacks the answered line:\n%s", h.out.text())
	}
	if texts := h.sentTexts(); len(texts) != 1 {
		t.Errorf("sent %q, want only the line before /quit", texts)
	}
}

// TestLines_EndOfInputWithoutAConnectionGivesUp: at the end of the input, a connection
// that is down (or an attempt that then fails) ends line mode with an *UnsentError that
// counts the lines not sent, instead of retrying forever.
func TestLines_EndOfInputWithoutAConnectionGivesUp(t *testing.T) {
	refused := errors.New("connect: connection refused")
	tests := []struct {
		name      string
		run       func(t *testing.T, h *lineHarness)
		wantLines int
		wantOut   []string
	}{
		{"empty input, server down", func(t *testing.T, h *lineHarness) {
			h.conn.events <- StatusEvent{State: StateConnecting}
			h.closeInput(t)
			h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: refused}
		}, 0, []string{"!! gave up: not connected at the end of input"}},
		{"lines waiting, server down", func(t *testing.T, h *lineHarness) {
			h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: refused}
			h.write(t, "hello\n/msg bob hi\n/quit\n")
		}, 2, []string{"!! not sent: hello", "!! not sent: /msg bob hi"}},
		{"connection lost before the answer", func(t *testing.T, h *lineHarness) {
			h.conn.events <- StatusEvent{State: StateConnected}
			h.write(t, "lost\n")
			h.waitSent(t, "lost")
			h.closeInput(t)
			h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second, Err: refused}
		}, 1, []string{"!! not sent (connection lost): lost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startLines(t, testConfig())
			tt.run(t, h)
			err := h.wait(t)
			ue, ok := errors.AsType[*UnsentError](err)
			if !ok || ue.Lines != tt.wantLines || !errors.Is(err, refused) {
				t.Fatalf("runLines = %v, want an *UnsentError for %d lines caused by %v", err, tt.wantLines, refused)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(h.out.text(), want) {
					t.Errorf("output lacks %q:\n%s", want, h.out.text())
				}
			}
		})
	}
}

// TestLines_EndOfInputWaitsForTheAttemptInProgress: input that ends before the first
// login is still sent when the attempt under way succeeds.
func TestLines_EndOfInputWaitsForTheAttemptInProgress(t *testing.T) {
	h := startLines(t, testConfig())
	h.conn.events <- StatusEvent{State: StateConnecting}
	h.write(t, "/help\nearly\n")
	h.closeInput(t)
	h.out.waitFor(t, 0, "-- commands:") // local commands do not wait for the connection
	h.conn.events <- StatusEvent{State: StateConnected}
	s := h.waitSent(t, "early")
	h.conn.events <- answer(h.conn.find(t, protocol.CmdUsers), protocol.OK, "", protocol.UsersResult{})
	h.answerThenEnd(t, s)
}

// TestLines_ManyLinesNeverOverflowTheSendQueue pipes far more lines than the connection's
// send queue holds while the server answers nothing: line mode stops handing lines over
// at maxUnanswered requests in flight, and goes on as answers come.
func TestLines_ManyLinesNeverOverflowTheSendQueue(t *testing.T) {
	h := startLines(t, testConfig())
	const n = 3 * sendQueue
	var input strings.Builder
	for i := range n {
		fmt.Fprintf(&input, "line %d\n", i)
	}
	h.conn.events <- StatusEvent{State: StateConnected}
	h.write(t, input.String())
	h.waitSent(t, fmt.Sprintf("line %d", maxUnanswered-2)) // the users request is in flight too
	answered := 0
	for answered < n {
		reqs := h.conn.requests()
		if inFlight := len(reqs) - answered; inFlight > maxUnanswered {
			t.Fatalf("%d requests in flight, want at most %d", inFlight, maxUnanswered)
		}
		if answered == len(reqs) {
			h.waitSentCount(t, answered+1)
			continue
		}
		var data any
		if reqs[answered].cmd == protocol.CmdUsers {
			data = protocol.UsersResult{}
		}
		h.conn.events <- answer(reqs[answered], protocol.OK, "", data)
		answered++
	}
	h.waitSentCount(t, n+1) // every line, and the users request
	if strings.Contains(h.out.text(), "!!") {
		t.Errorf("errors in the output:\n%s", h.out.text())
	}
}

// TestLines_ARefusedLineCountsOnce: a /join whose leave and join the server both refuse
// is one refused line, and a refusal outranks a line not sent for want of a connection.
func TestLines_ARefusedLineCountsOnce(t *testing.T) {
	cfg := testConfig()
	cfg.Room = "lobby"
	h := startLines(t, cfg)
	h.conn.events <- StatusEvent{State: StateConnected}
	h.conn.events <- answer(h.conn.find(t, protocol.CmdJoin), protocol.OK, "", nil)
	h.conn.events <- answer(h.conn.find(t, protocol.CmdUsers), protocol.OK, "", protocol.UsersResult{})
	h.write(t, "/join other\n")
	h.waitSentCount(t, 5)
	reqs := h.conn.requests()
	h.conn.events <- answer(reqs[2], protocol.OperationFailure, "no", nil) // leave lobby
	h.conn.events <- answer(reqs[3], protocol.ParameterIllegal, "no", nil) // join other
	h.conn.events <- answer(reqs[4], protocol.OK, "", protocol.UsersResult{})
	h.out.waitFor(t, 0, "!! cannot join other: no (1001)")
	// The connection drops with a line still to send: it is not sent.
	h.conn.events <- StatusEvent{State: StateReconnecting, RetryIn: time.Second}
	h.write(t, "unsent\n")
	h.closeInput(t)
	var re *RefusedError
	if err := h.wait(t); !errors.As(err, &re) || re.Lines != 1 {
		t.Errorf("runLines = %v, want 1 line refused; output:\n%s", err, h.out.text())
	}
	if !strings.Contains(h.out.text(), "!! not sent: unsent") {
		t.Errorf("output lacks the unsent line:\n%s", h.out.text())
	}
}

// TestLines_TheOwnUserListIsNotARefusedLine: the user list the client asks for after
// connecting is not a line of the input; its refusal (Redis down) is shown, not counted.
func TestLines_TheOwnUserListIsNotARefusedLine(t *testing.T) {
	h := startLines(t, testConfig())
	h.conn.events <- StatusEvent{State: StateConnected}
	h.conn.events <- answer(h.conn.find(t, protocol.CmdUsers), protocol.OperationFailure, "cluster unavailable", nil)
	h.out.waitFor(t, 0, "!! users: cluster unavailable (1009)")
	h.write(t, "hello\n")
	h.conn.events <- answer(h.waitSent(t, "hello"), protocol.OK, "", nil)
	h.closeInput(t)
	if err := h.wait(t); err != nil {
		t.Errorf("runLines = %v, want nil (no line of the input was refused); output:\n%s", err, h.out.text())
	}
}

// A line longer than maxLineBytes is refused on its own: the lines after it are still read
// and sent, and the run ends with one line refused.
func TestLines_AnOverlongLineIsRefusedAndReadingGoesOn(t *testing.T) {
	h := startLines(t, testConfig())
	h.conn.events <- StatusEvent{State: StateConnected}
	h.write(t, "before\n"+strings.Repeat("x", maxLineBytes+1)+"\nafter\r\n")
	h.conn.events <- answer(h.waitSent(t, "before"), protocol.OK, "", nil)
	after := h.waitSent(t, "after")
	h.out.waitFor(t, 0, fmt.Sprintf("!! not sent: a line of %d bytes (at most %d)", maxLineBytes+1, maxLineBytes))
	h.closeInput(t)
	h.conn.events <- answer(after, protocol.OK, "", nil)
	var re *RefusedError
	if err := h.wait(t); !errors.As(err, &re) || re.Lines != 1 {
		t.Errorf("runLines = %v, want 1 line refused; output:\n%s", err, h.out.text())
	}
	if got := h.sentTexts(); len(got) != 2 {
		t.Errorf("sent %q, want before and after", got)
	}
}

// nextLine splits as bufio.ScanLines does, and measures a line too long to keep.
func TestNextLine(t *testing.T) {
	long := strings.Repeat("y", maxLineBytes+5)
	r := bufio.NewReaderSize(strings.NewReader("a\r\n\nb\n"+long+"\r\n"+strings.Repeat("z", maxLineBytes)+"\nlast"), 16)
	type got struct {
		line string
		long int
	}
	want := []got{{"a", 0}, {"", 0}, {"b", 0}, {"", maxLineBytes + 6}, {strings.Repeat("z", maxLineBytes), 0}, {"last", 0}}
	for i, w := range want {
		line, n, err := nextLine(r)
		if err != nil || line != w.line || n != w.long {
			t.Fatalf("line %d: %.20q, long %d, err %v; want %.20q, long %d", i, line, n, err, w.line, w.long)
		}
	}
	if _, _, err := nextLine(r); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: err %v, want io.EOF", err)
	}
}
