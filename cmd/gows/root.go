package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// streams are the only places commands read from and write to: out for results, err for
// logs and errors. newRootCmd wires them into cobra, so cmd.OutOrStdout() is s.out.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// Exit codes. A subcommand that needs another code (admin: 3 when the server is
// unreachable) defines a constant next to it and returns withExitCode(code, err).
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line is wrong: unknown command or flag, bad arguments
)

// exitError attaches a process exit code to an error. Errors without one exit with
// exitFailure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }

// withExitCode makes the process exit with code when err reaches main. It returns nil
// for a nil err.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageErrorf reports a wrong command line (exit code 2).
func usageErrorf(format string, args ...any) error {
	return withExitCode(exitUsage, fmt.Errorf(format, args...))
}

// exitCode is the exit code for the error a command returned.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	return exitFailure
}

// usageArgs turns the errors of an argument check into usage errors (exit code 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return withExitCode(exitUsage, check(cmd, args))
	}
}

// noArgs is the argument check of commands that take only flags.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// noCommandError is a command that only groups subcommands (gows, gows admin) run
// without one. It is a usage error; execute prints the command's usage after it.
type noCommandError struct {
	path  string   // the command, e.g. "gows admin"
	names []string // its subcommands
}

func (e *noCommandError) Error() string {
	list := strings.Join(e.names, ", ")
	if i := strings.LastIndex(list, ", "); i >= 0 {
		list = list[:i] + " or " + list[i+len(", "):]
	}
	return e.path + " needs a command: " + list
}

// needCommand is the RunE of a command that only groups subcommands: run bare, it is a
// usage error (exit code 2), so that a script that forgot the subcommand fails.
func needCommand(cmd *cobra.Command, _ []string) error {
	e := &noCommandError{path: cmd.CommandPath()}
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			e.names = append(e.names, c.Name())
		}
	}
	return withExitCode(exitUsage, e)
}

// commandArgs is the argument check of a command that only groups subcommands: cobra
// leaves a word that names none of them as an argument, which is an unknown command.
func commandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if sug := cmd.SuggestionsFor(args[0]); len(sug) > 0 {
		msg += "; did you mean " + strings.Join(sug, " or ") + "?"
	}
	return usageErrorf("%s", msg)
}

// newRootCmd builds the gows command tree. Adding a subcommand is one line in the
// AddCommand call below.
func newRootCmd(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "gows",
		Short: "WebSocket push gateway",
		Long: `gows is a WebSocket push gateway in one binary.

"gows serve" runs a node: WebSocket clients log in and receive pushes sent through the
HTTP API; the web chat page at / shows it working. Run "gows <command> --help" for the
settings of each command.`,
		Example: `  gows serve                          # one node, everything in memory
  gows serve --config gows.yaml       # settings from a file (see configs/gows.example.yaml)
  gows token --user alice --app-id 101 --secret "$GOWS_AUTH_SECRET"
  gows version -o json
  source <(gows completion bash)`,
		// Errors are printed once, by execute; usage only on request, or after the error
		// when a command is missing.
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          commandArgs,
		RunE:          needCommand,
		// Suggest commands one or two typos away too, not only those typed in part.
		SuggestionsMinimumDistance: 2,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	// Subcommands inherit this: a bad flag anywhere is a usage error.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withExitCode(exitUsage, err)
	})
	root.CompletionOptions.DisableDefaultCmd = true // newCompletionCmd replaces it

	root.AddCommand(
		newServeCmd(s, nil),
		newBenchCmd(s, nil),
		newChatCmd(s, nil),
		newAdminCmd(s, nil),
		newTokenCmd(s, nil),
		newVersionCmd(s, nil),
		newCompletionCmd(s),
	)

	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			c.Example = "  gows help serve"
			c.Args = helpArgs
		}
	}
	return root
}

// helpArgs is the argument check of `gows help`: a topic that names no command is a
// wrong command line, not a reason to print the root's help and exit 0.
func helpArgs(cmd *cobra.Command, args []string) error {
	target, rest, err := cmd.Root().Find(args)
	if err == nil && len(rest) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown help topic %q", strings.Join(args, " "))
	if target != nil && len(rest) > 0 {
		if sug := target.SuggestionsFor(rest[0]); len(sug) > 0 {
			msg += "; did you mean " + strings.Join(sug, " or ") + "?"
		}
	}
	return usageErrorf("%s", msg)
}

// execute runs root with args, prints an error once to s.err and returns the exit code.
func execute(ctx context.Context, root *cobra.Command, s *streams, args []string) int {
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	code := exitCode(err)
	fmt.Fprintf(s.err, "Error: %v\n", err)
	switch _, noCommand := errors.AsType[*noCommandError](err); {
	case noCommand && cmd != nil:
		fmt.Fprintf(s.err, "\n%s", cmd.UsageString())
	case code == exitUsage && cmd != nil:
		fmt.Fprintf(s.err, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}
