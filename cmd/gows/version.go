package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Build stamps, set at link time by .goreleaser.yaml:
//
//	go build -ldflags "-X main.version=1.2.0 -X main.commit=0a1b2c3 -X main.date=2026-01-02T15:04:05Z"
//
// An empty stamp falls back to what the Go toolchain recorded in the binary.
var (
	version string
	commit  string
	date    string
)

// buildInfo describes the running binary.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// currentBuild returns the link-time stamps, or what `go install`/`go build` recorded
// when the binary was not stamped.
func currentBuild() buildInfo {
	b := buildInfo{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				b.Commit = cmp.Or(b.Commit, kv.Value)
			case "vcs.time":
				b.Date = cmp.Or(b.Date, kv.Value)
			}
		}
	}
	b.Version = cmp.Or(b.Version, "dev")
	b.Commit = cmp.Or(b.Commit, "unknown")
	b.Date = cmp.Or(b.Date, "unknown")
	return b
}

// versionOptions is the parsed command line of `gows version`.
type versionOptions struct {
	output string // text or json
}

func newVersionCmd(s *streams, runF func(context.Context, *versionOptions) error) *cobra.Command {
	opts := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Example: `  gows version
  gows version -o json | jq -r .version`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.output != "text" && opts.output != "json" {
				return usageErrorf("--output: want text or json, got %q", opts.output)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runVersion(s, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.output, "output", "o", "text", "output format: text or json")
	completeOutput(cmd, "text", "json")
	return cmd
}

func runVersion(s *streams, opts *versionOptions) error {
	b := currentBuild()
	if opts.output == "json" {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(b); err != nil {
			return fmt.Errorf("write version: %w", err)
		}
		return nil
	}
	_, err := fmt.Fprintf(s.out, "gows %s\ncommit:   %s\nbuilt:    %s\ngo:       %s\nplatform: %s\n",
		b.Version, b.Commit, b.Date, b.GoVersion, b.Platform)
	if err != nil {
		return fmt.Errorf("write version: %w", err)
	}
	return nil
}
