//go:build linux

package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sync/errgroup"
)

// procWorker is a worker running in a child process (see RunWorker). The coordinator
// talks to it over its stdin and reads JSON lines from its stdout.
type procWorker struct {
	index  int
	cmd    *exec.Cmd
	stderr *tailBuffer

	mu    sync.Mutex // guards stdin and ended
	stdin io.WriteCloser
	ended bool // stdin closed
}

// startProcWorker starts argv as a worker for spec. A goroutine, joined to g, reads its
// events and passes them to send until the process exits; when the worker has sent its
// result, that goroutine closes the worker's stdin, which lets the process exit.
func startProcWorker(argv []string, spec workerSpec, send func(workerEvent), g *errgroup.Group) (*procWorker, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	// Own process group: Ctrl-C reaches only the coordinator, which closes the workers
	// in order. Pdeathsig: a worker never outlives a coordinator that crashed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// One Go P per event loop: a machine running dozens of workers (and server nodes)
	// schedules far fewer threads that way.
	cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", max(spec.Loops, 1)))
	pw := &procWorker{index: spec.Index, cmd: cmd, stderr: &tailBuffer{max: 4096}}
	cmd.Stderr = pw.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	pw.stdin = stdin
	task, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	g.Go(func() error {
		gotResult := false
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var ev workerEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				continue // not an event (stray output); the result still arrives
			}
			ev.Worker = spec.Index
			if ev.Type == "result" {
				gotResult = true
				pw.endInput()
			}
			send(ev)
		}
		pw.endInput()
		err := cmd.Wait()
		if !gotResult {
			msg := "exited without a result"
			if err != nil {
				msg = fmt.Sprintf("exited without a result: %v", err)
			}
			if tail := strings.TrimSpace(pw.stderr.String()); tail != "" {
				msg += ": " + tail
			}
			send(workerEvent{Type: "exit", Worker: spec.Index, Err: msg})
		}
		return nil
	})
	pw.writeLine(task)
	return pw, nil
}

func (pw *procWorker) writeLine(b []byte) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.ended {
		return
	}
	// A failed write means the worker is gone; its reader reports the exit.
	_, _ = pw.stdin.Write(append(b, '\n'))
}

func (pw *procWorker) command(cmd string) {
	b, _ := json.Marshal(workerCommand{Cmd: cmd}) // a struct of one string always marshals
	pw.writeLine(b)
}

func (pw *procWorker) hold()  { pw.command("hold") }
func (pw *procWorker) close() { pw.command("close") }

// endInput closes the worker's stdin: after its result, or when it is gone.
func (pw *procWorker) endInput() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if !pw.ended {
		pw.ended = true
		_ = pw.stdin.Close() // the worker reads EOF either way
	}
}

// kill ends a worker that did not finish in time.
func (pw *procWorker) kill() {
	if pw.cmd.Process != nil {
		_ = pw.cmd.Process.Kill() // it may have exited already
	}
}

// tailBuffer keeps the last bytes written to it (a worker's stderr, for error messages).
type tailBuffer struct {
	mu  sync.Mutex // guards b
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
