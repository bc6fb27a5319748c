package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.yaml.in/yaml/v3"
)

func TestVersion_PrintsBuildInfo(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, stdout string)
	}{
		{"text", []string{"version"}, func(t *testing.T, stdout string) {
			for _, want := range []string{"gows ", "commit:", "built:", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout = %q, want it to contain %q", stdout, want)
				}
			}
		}},
		{"json", []string{"version", "-o", "json"}, func(t *testing.T, stdout string) {
			var got buildInfo
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			if got != currentBuild() {
				t.Errorf("got %+v, want %+v", got, currentBuild())
			}
			if got.Version == "" || got.Commit == "" || got.Date == "" || got.GoVersion != runtime.Version() {
				t.Errorf("incomplete build info %+v", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.args)
			if res.code != exitOK || res.stderr != "" {
				t.Fatalf("exit %d, stderr %q", res.code, res.stderr)
			}
			tt.check(t, res.stdout)
		})
	}
}

// TestVersion_AsksASilentTerminalNothing runs `gows version` (this test binary, as gows)
// with a pseudo-terminal that never answers as its controlling terminal and standard
// streams, as under script, ssh -tt, expect or a CI runner. It must print the version and
// exit without writing a terminal query: bubbletea 1.x, linked into every command for
// gows chat, asked in its package init for the background colour (OSC 11) and the cursor
// position (CSI 6n), then waited 5 seconds for answers that never came, and left the
// queries in the output. The deadline only turns a hang into a failure.
func TestVersion_AsksASilentTerminalNothing(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no pseudo-terminal (CI must run this test): %v", err)
		}
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "version")
	// A terminal type that has the queries asked (bubbletea 1.x skipped them for dumb).
	cmd.Env = append(os.Environ(), runAsGowsEnv+"=1", "TERM=xterm-256color", "NO_COLOR=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = tty.Close() // the child has its copy: reading ptmx ends when the child is gone
	read := make(chan []byte, 1)
	go func() {
		out, _ := io.ReadAll(ptmx) // ends with EIO once no one has the terminal open
		read <- out
	}()
	runErr := cmd.Wait()
	var out []byte
	select {
	case out = <-read:
	case <-ctx.Done():
		_ = ptmx.Close() // ends the read
		out = <-read
	}
	if runErr != nil {
		t.Fatalf("gows version on a silent terminal: %v\n%q", runErr, out)
	}
	for _, q := range []string{"\x1b]11;?", "\x1b[6n"} {
		if bytes.Contains(out, []byte(q)) {
			t.Errorf("gows version asked the terminal %q:\n%q", q, out)
		}
	}
	if bytes.IndexByte(out, 0x1b) >= 0 {
		t.Errorf("gows version wrote an escape sequence:\n%q", out)
	}
	if !bytes.Contains(out, []byte("commit:")) {
		t.Errorf("gows version printed no version:\n%q", out)
	}
}

func TestVersion_LinkTimeStampsWin(t *testing.T) {
	saved := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = saved[0], saved[1], saved[2] })
	version, commit, date = "1.2.3", "abc1234", "2026-01-02T03:04:05Z"

	got := currentBuild()
	if got.Version != "1.2.3" || got.Commit != "abc1234" || got.Date != "2026-01-02T03:04:05Z" {
		t.Errorf("currentBuild() = %+v, want the stamped values", got)
	}
}

// goreleaserFile is the release configuration, from this package's directory.
const goreleaserFile = "../../.goreleaser.yaml"

// goreleaserConfig is the part of .goreleaser.yaml that TestRelease_GoreleaserConfig
// checks.
type goreleaserConfig struct {
	Version int `yaml:"version"`
	Builds  []struct {
		Main    string   `yaml:"main"`
		Env     []string `yaml:"env"`
		Goos    []string `yaml:"goos"`
		Goarch  []string `yaml:"goarch"`
		Flags   []string `yaml:"flags"`
		Ldflags []string `yaml:"ldflags"`
	} `yaml:"builds"`
	Archives []struct {
		Files []string `yaml:"files"`
	} `yaml:"archives"`
	Checksum struct {
		NameTemplate string `yaml:"name_template"`
	} `yaml:"checksum"`
}

// TestRelease_GoreleaserConfig checks .goreleaser.yaml against what a release needs
// (linux and darwin on amd64 and arm64, CGO off, -trimpath, archives with the README,
// LICENSE and example config, checksums), then links gows with its ldflags and runs
// `gows version -o json`: the linker ignores -X for a variable that does not exist, so
// only the built binary shows that the stamps arrive.
func TestRelease_GoreleaserConfig(t *testing.T) {
	raw, err := os.ReadFile(goreleaserFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg goreleaserConfig
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("%s: %v", goreleaserFile, err)
	}
	if cfg.Version != 2 || len(cfg.Builds) != 1 || len(cfg.Archives) != 1 || cfg.Checksum.NameTemplate == "" {
		t.Fatalf("%s: want goreleaser v2, one build, one archive and checksums: %+v", goreleaserFile, cfg)
	}
	b := cfg.Builds[0]
	if b.Main != "./cmd/gows" || !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
		t.Errorf("build: main %q, env %q, flags %q; want ./cmd/gows, CGO_ENABLED=0, -trimpath", b.Main, b.Env, b.Flags)
	}
	for _, want := range [][2][]string{{b.Goos, {"linux", "darwin"}}, {b.Goarch, {"amd64", "arm64"}}} {
		for _, w := range want[1] {
			if !slices.Contains(want[0], w) {
				t.Errorf("build targets %q lack %s", want[0], w)
			}
		}
	}
	for _, f := range []string{"README.md", "LICENSE", "configs/gows.example.yaml"} {
		if !slices.Contains(cfg.Archives[0].Files, f) {
			t.Errorf("archive files %q lack %s", cfg.Archives[0].Files, f)
		}
		if _, err := os.Stat(filepath.Join("../..", f)); err != nil {
			t.Errorf("archive file %s: %v", f, err)
		}
	}

	if testing.Short() {
		t.Skip("links the gows binary")
	}
	stamps := strings.NewReplacer("{{ .Version }}", "9.8.7", "{{ .Commit }}", "0123abc", "{{ .Date }}", "2026-03-04T05:06:07Z")
	ldflags := stamps.Replace(strings.Join(b.Ldflags, " "))
	bin := filepath.Join(t.TempDir(), "gows")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags %q: %v\n%s", ldflags, err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("gows version -o json: %v", err)
	}
	var got buildInfo
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("gows version -o json: %v\n%s", err, out)
	}
	want := buildInfo{Version: "9.8.7", Commit: "0123abc", Date: "2026-03-04T05:06:07Z", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if got != want {
		t.Errorf("gows version -o json of a binary linked with %q:\n got %+v\nwant %+v", ldflags, got, want)
	}
}
