package tui

import (
	"context"
	"io"
	"os"
	"sync"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/term"
)

// Run runs a chat session with cfg until the user quits, the input ends (line mode), ctx
// is done, or the server ends the session for good. It uses the full-screen UI when in is
// a terminal and cfg.NoTUI is false, and line mode otherwise.
//
// It returns nil when the user quits, the input ends or ctx is done, and the server's
// reason (a *CloseError, *LoginError or *HandshakeError) when the server ended the
// session. Line mode returns an *UnsentError when it could not deliver its input for
// want of a connection. All its
// goroutines have exited when it returns; in line mode with an in that is neither a
// terminal, a pipe nor a regular file, that includes the read in progress.
func Run(ctx context.Context, cfg Config, in io.Reader, out io.Writer) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	client := NewClient(cfg)
	var wg sync.WaitGroup
	var clientErr error
	wg.Go(func() { clientErr = client.Run(ctx) })

	var err error
	if cfg.NoTUI || !isTerminal(in) {
		err = runLines(ctx, cfg, client, in, out)
	} else {
		err = runTUI(ctx, cfg, client, in, out)
	}
	cancel()
	wg.Wait()
	if err == nil && clientErr != nil {
		err = clientErr // the server ended the session for good
	}
	return err
}

// runTUI runs the full-screen UI on the terminal in/out until the user quits or ctx ends.
// It handles no signals itself: the caller ends ctx on SIGINT or SIGTERM.
func runTUI(ctx context.Context, cfg Config, conn Conn, in io.Reader, out io.Writer) error {
	// The model asks the terminal nothing: bubbletea's own questions at start (which
	// modes it supports) are answered, if at all, as input events, and it never waits for
	// them, so a terminal that does not answer delays nothing. The alternate screen is
	// asked for by the model's View.
	p := tea.NewProgram(NewModel(conn, cfg),
		tea.WithInput(in),
		tea.WithOutput(out),
		// The caller owns SIGINT and SIGTERM and ends ctx on them; bubbletea's own
		// handler would get them too and race the end of ctx to stop the program (which
		// hung bubbletea 1.x). Ctrl-C is a key in the terminal's raw mode, not a signal.
		tea.WithoutSignalHandler(),
	)
	// The end of ctx quits the program as Ctrl-C does, not through tea.WithContext: a
	// program killed by its context returns without waiting for its input reader, which
	// then reads a terminal the caller may already have closed.
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			p.Quit() // returns once the program has the message, or has stopped
		case <-stopped:
		}
	})
	_, err := p.Run()
	close(stopped)
	wg.Wait()
	return err
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
