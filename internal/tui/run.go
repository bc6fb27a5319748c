package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
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
func runTUI(ctx context.Context, cfg Config, conn Conn, in io.Reader, out io.Writer) error {
	m := NewModel(conn, cfg, lipgloss.NewRenderer(out))
	p := tea.NewProgram(m,
		tea.WithContext(ctx),
		tea.WithInput(in),
		tea.WithOutput(out),
		tea.WithAltScreen(),
	)
	_, err := p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // cancelled from outside (signal, test): not a failure
	}
	return err
}

// isTerminal reports whether r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}
