//go:build !linux

package bench

import (
	"context"
	"io"

	"github.com/gows-dev/gows/internal/netpoll"
)

// Runner runs one bench. On this system it cannot: the client is built on epoll, so Run
// fails with netpoll.ErrUnsupported. Reports can still be read and merged.
type Runner struct{}

// NewRunner returns a Runner whose Run fails on this system.
func NewRunner(Config) *Runner { return &Runner{} }

// Run fails at once with netpoll.ErrUnsupported: gows bench needs Linux.
func (r *Runner) Run(context.Context) (Report, error) { return Report{}, netpoll.ErrUnsupported }

// RunWorker fails at once with netpoll.ErrUnsupported: gows bench needs Linux.
func RunWorker(context.Context, io.Reader, io.Writer) error { return netpoll.ErrUnsupported }
