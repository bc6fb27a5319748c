package server

import (
	"sync"

	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/server/hub"
	"github.com/gows-dev/gows/internal/wsframe"
)

// job is one unit of a connection's work: a message to handle, or its close.
type job struct {
	c       *conn.Conn
	s       *hub.Session
	op      wsframe.Opcode
	payload []byte           // a copy of the message; nil for a close
	closed  *conn.CloseError // non-nil: the connection has closed
	limited limitAction      // the message was refused by the rate limit
}

// limitAction is what the rate limit asks a worker to do, in order with the connection's
// earlier messages.
type limitAction uint8

const (
	notLimited limitAction = iota
	limitReply             // answer "rate limit exceeded"
	limitClose             // close the connection for sustained abuse
	limitDrop              // refused after the close was decided: counted, not answered
)

// queueLen is each worker's backlog. A full queue makes the engine answer "server busy"
// to new messages (closes still wait), so memory stays bounded under overload.
const queueLen = 1024

// workers execute connection jobs off the engine's loop goroutines. A connection always
// maps to the same worker, so its jobs run in order and its session state needs no lock.
type workers struct {
	queues []chan job
	handle func(job)
}

func newWorkers(n int, handle func(job)) *workers {
	w := &workers{queues: make([]chan job, n), handle: handle}
	for i := range w.queues {
		w.queues[i] = make(chan job, queueLen)
	}
	return w
}

func (w *workers) queue(c *conn.Conn) chan job { return w.queues[c.ID()%uint64(len(w.queues))] }

// tryEnqueue queues a message job without blocking and reports whether it was queued.
func (w *workers) tryEnqueue(j job) bool {
	select {
	case w.queue(j.c) <- j:
		return true
	default:
		return false
	}
}

// enqueue queues a job, waiting for room. Used for closes, which must not be lost.
func (w *workers) enqueue(j job) { w.queue(j.c) <- j }

// run executes jobs until stopped is closed (the engine has returned, so nothing more is
// queued), then finishes what is queued and returns.
func (w *workers) run(stopped <-chan struct{}) error {
	var wg sync.WaitGroup
	for _, q := range w.queues {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case j := <-q:
					w.handle(j)
				case <-stopped:
					for {
						select {
						case j := <-q:
							w.handle(j)
						default:
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}
