package main

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"
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

func TestVersion_LinkTimeStampsWin(t *testing.T) {
	saved := [3]string{version, commit, date}
	t.Cleanup(func() { version, commit, date = saved[0], saved[1], saved[2] })
	version, commit, date = "1.2.3", "abc1234", "2026-01-02T03:04:05Z"

	got := currentBuild()
	if got.Version != "1.2.3" || got.Commit != "abc1234" || got.Date != "2026-01-02T03:04:05Z" {
		t.Errorf("currentBuild() = %+v, want the stamped values", got)
	}
}
