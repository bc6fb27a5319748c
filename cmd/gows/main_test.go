package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/testutil"
)

// cliResult is what one run of the command tree wrote and returned.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the real command tree with args, as main would, with buffers for streams.
// replace swaps subcommands of the same name for test versions (built with a runF hook).
func runCLI(t *testing.T, args []string, replace ...func(*streams) *cobra.Command) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	s := &streams{in: strings.NewReader(""), out: &out, err: &errOut}
	root := newRootCmd(s)
	for _, build := range replace {
		sub := build(s)
		for _, c := range root.Commands() {
			if c.Name() == sub.Name() {
				root.RemoveCommand(c)
			}
		}
		root.AddCommand(sub)
	}
	code := execute(t.Context(), root, s, args)
	return cliResult{stdout: out.String(), stderr: errOut.String(), code: code}
}

// isolateEnv blanks every GOWS_* variable of the test process for the test; the loader
// treats an empty variable as unset.
func isolateEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, envPrefix) {
			t.Setenv(k, "")
		}
	}
}

// writeFile writes content to name in a fresh temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCLI_UsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown command", []string{"serv"}, `unknown command "serv" for "gows"; did you mean serve?`},
		{"misspelt command", []string{"sevre"}, `unknown command "sevre" for "gows"; did you mean serve?`},
		{"unknown flag", []string{"serve", "--bogus"}, "unknown flag: --bogus"},
		{"unknown root flag", []string{"--bogus"}, "unknown flag: --bogus"},
		{"missing flag value", []string{"serve", "--config"}, "flag needs an argument: --config"},
		{"unparsable flag value", []string{"serve", "--login-timeout", "5"}, `invalid argument "5" for "--login-timeout"`},
		{"bad list flag value", []string{"serve", "--allowed-app-ids", "101,x"}, `allowed_app_ids (from flag --allowed-app-ids): want a non-negative integer, got "x"`},
		{"extra argument", []string{"serve", "now"}, `gows serve takes no arguments, got "now"`},
		{"version output format", []string{"version", "-o", "yaml"}, `--output: want text or json, got "yaml"`},
		{"completion without shell", []string{"completion"}, "accepts 1 arg(s), received 0"},
		{"completion unknown shell", []string{"completion", "tcsh"}, `invalid argument "tcsh"`},
		{"unknown help topic", []string{"help", "serv"}, `unknown help topic "serv"; did you mean serve?`},
		{"unknown help subtopic", []string{"help", "admin", "bogus"}, `unknown help topic "admin bogus"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			res := runCLI(t, tt.args)
			if res.code != exitUsage {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", res.code, exitUsage, res.stderr)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tt.want)
			}
			if n := strings.Count(res.stderr, "Error:"); n != 1 {
				t.Errorf("stderr has %d errors, want it printed once:\n%s", n, res.stderr)
			}
			if !strings.Contains(res.stderr, "--help' for usage") {
				t.Errorf("stderr = %q, want a pointer to --help", res.stderr)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
		})
	}
}

func TestCLI_RuntimeErrorExits1WithoutUsage(t *testing.T) {
	isolateEnv(t)
	res := runCLI(t, []string{"serve", "--config", filepath.Join(t.TempDir(), "missing.yaml")})
	if res.code != exitFailure {
		t.Errorf("exit code = %d, want %d", res.code, exitFailure)
	}
	if strings.Contains(res.stderr, "Usage:") || strings.Contains(res.stderr, "--help") {
		t.Errorf("a runtime error printed usage:\n%s", res.stderr)
	}
	if n := strings.Count(res.stderr, "Error:"); n != 1 {
		t.Errorf("stderr has %d errors, want 1:\n%s", n, res.stderr)
	}
}

func TestCLI_ExitErrorCarriesItsCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, exitOK},
		{"plain", os.ErrNotExist, exitFailure},
		{"usage", usageErrorf("bad"), exitUsage},
		{"custom code, wrapped", withExitCode(3, os.ErrDeadlineExceeded), 3},
		{"nil keeps nil", withExitCode(3, nil), exitOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestCLI_EveryCommandHelpHasAnExample(t *testing.T) {
	root := newRootCmd(&streams{in: strings.NewReader(""), out: &bytes.Buffer{}, err: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		t.Run(c.CommandPath(), func(t *testing.T) {
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%q has no example", c.CommandPath())
			}
			if c.Short == "" {
				t.Errorf("%q has no short description", c.CommandPath())
			}
			res := runCLI(t, append(strings.Fields(c.CommandPath())[1:], "--help"))
			if res.code != exitOK || !strings.Contains(res.stdout, "Examples:") {
				t.Errorf("--help: exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// TestCLI_CommandGroupWithoutACommandIsAUsageError: gows and gows admin only group
// subcommands; run without one they exit 2 and print the error, then their usage, to
// stderr.
func TestCLI_CommandGroupWithoutACommandIsAUsageError(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		error string   // the first line of stderr
		usage []string // in stderr after it
	}{
		{
			name:  "gows",
			args:  nil,
			error: "Error: gows needs a command: admin, bench, chat, completion, serve, token or version",
			usage: []string{"Usage:\n  gows [flags]\n  gows [command]\n", "Available Commands:\n  admin ", "\n  serve ", `Use "gows [command] --help"`},
		},
		{
			name:  "gows admin",
			args:  []string{"admin"},
			error: "Error: gows admin needs a command: broadcast, kick, nodes, online, push, state or users",
			usage: []string{"Usage:\n", "  gows admin [command]\n", "Available Commands:\n  broadcast ", "\n  users ", "--server string", `Use "gows admin [command] --help"`},
		},
		{
			name:  "gows admin with only flags",
			args:  []string{"admin", "--server", "127.0.0.1:1", "-o", "json"},
			error: "Error: gows admin needs a command: broadcast, kick, nodes, online, push, state or users",
			usage: []string{"Available Commands:\n  broadcast "},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			res := runCLI(t, tt.args)
			if res.code != exitUsage {
				t.Errorf("exit code = %d, want %d", res.code, exitUsage)
			}
			if res.stdout != "" {
				t.Errorf("stdout = %q, want nothing", res.stdout)
			}
			first, rest, _ := strings.Cut(res.stderr, "\n")
			if first != tt.error {
				t.Errorf("stderr starts %q, want %q", first, tt.error)
			}
			for _, want := range tt.usage {
				if !strings.Contains(rest, want) {
					t.Errorf("stderr does not contain %q:\n%s", want, res.stderr)
				}
			}
			if strings.Count(res.stderr, "Error:") != 1 || strings.Contains(res.stderr, "for usage.") {
				t.Errorf("want the error once and the usage instead of a pointer to it:\n%s", res.stderr)
			}
		})
	}
}

func TestCompletion_PrintsScriptForEachShell(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		t.Run(shell, func(t *testing.T) {
			res := runCLI(t, []string{"completion", shell})
			if res.code != exitOK || !strings.Contains(res.stdout, "gows") {
				t.Errorf("exit %d, stderr %q, stdout starts %.80q", res.code, res.stderr, res.stdout)
			}
		})
	}
}

// TestCompletion_FlagValues: the shells' completion of -o, and of other flags that take
// one of a few words, offers those words, not file names.
func TestCompletion_FlagValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"admin", []string{"admin", "state", "-o", ""}, "table\njson\n"},
		{"admin, before the subcommand", []string{"admin", "--output", ""}, "table\njson\n"},
		{"version", []string{"version", "-o", ""}, "text\njson\n"},
		{"token", []string{"token", "-o", ""}, "text\njson\n"},
		{"serve --log-level", []string{"serve", "--log-level", ""}, "debug\ninfo\nwarn\nerror\n"},
		{"serve --log-format", []string{"serve", "--log-format", ""}, "text\njson\n"},
		{"serve --duplicate-login", []string{"serve", "--duplicate-login", ""}, "kick\nreject\n"},
		{"bench --close", []string{"bench", "--close", ""}, "rst\ngraceful\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, append([]string{cobra.ShellCompNoDescRequestCmd}, tt.args...))
			want := tt.want + fmt.Sprintf(":%d\n", cobra.ShellCompDirectiveNoFileComp)
			if res.code != exitOK || res.stdout != want {
				t.Errorf("exit %d, stdout %q, want %q", res.code, res.stdout, want)
			}
		})
	}
}

// TestCompletion_BashCompletesCommandsAndFlags loads `gows completion bash` into a real
// bash with the bash-completion package, as `source <(gows completion bash)` does, and
// completes command lines the way Tab does: subcommands, flags and flag values.
func TestCompletion_BashCompletesCommandsAndFlags(t *testing.T) {
	bash := testutil.NeedCommand(t, "bash")
	const lib = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(lib); err != nil {
		if testutil.InCI() {
			t.Fatalf("%s is missing and CI is set: install bash-completion (see .ci/run)", lib)
		}
		t.Skipf("%s is missing; install bash-completion to run this test", lib)
	}
	// The script runs "gows __complete ..." from PATH: this test binary, as gows.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "gows")); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, []string{"completion", "bash"})
	if res.code != exitOK {
		t.Fatalf("completion bash: exit %d: %s", res.code, res.stderr)
	}
	script := writeFile(t, "gows.bash", res.stdout)

	// complete prints, one a line, what bash offers for words (the last one being typed).
	complete := func(t *testing.T, words ...string) []string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), bash, "--norc", "--noprofile", "-c", `
			source "$1" && source "$2" || exit 1
			complete -p gows | grep -q __start_gows || exit 1
			shift 2
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
			__start_gows 2>/dev/null
			printf '%s\n' "${COMPREPLY[@]}"`, "bash", lib, script)
		cmd.Args = append(cmd.Args, words...)
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), runAsGowsEnv+"=1")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bash completing %q: %v", words, err)
		}
		return strings.Fields(string(out))
	}
	tests := []struct {
		words []string
		want  []string
	}{
		{[]string{"gows", "ad"}, []string{"admin"}},
		{[]string{"gows", "admin", "br"}, []string{"broadcast"}},
		{[]string{"gows", "admin", "users", "--cur"}, []string{"--cursor"}},
		{[]string{"gows", "admin", "--tim"}, []string{"--timeout"}},
		{[]string{"gows", "admin", "state", "-o", ""}, []string{"table", "json"}},
		{[]string{"gows", "completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
		{[]string{"gows", "serve", "--drain-t"}, []string{"--drain-timeout"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.words, " "), func(t *testing.T) {
			if got := complete(t, tt.words...); !slices.Equal(got, tt.want) {
				t.Errorf("completes to %q, want %q", got, tt.want)
			}
		})
	}
}
