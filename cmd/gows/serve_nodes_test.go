package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/gows-dev/gows/internal/testutil"
)

func TestServeNodes_ArgsForEachNode(t *testing.T) {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.Int("nodes", 1, "")
	fs.String("node-id", "", "")
	fs.String("ws-addr", "", "")
	fs.StringSlice("allowed-origins", nil, "")
	fs.Bool("reuseport", false, "")
	fs.String("config", "", "")
	if err := fs.Parse([]string{"--nodes", "3", "--node-id", "x", "--ws-addr", ":9", "--allowed-origins", "a.example,*.b.example", "--reuseport", "--config", "c.yaml"}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(nodeArgs(fs, "c.yaml"), " ")
	want := "--config=c.yaml --allowed-origins=a.example --allowed-origins=*.b.example --ws-addr=:9"
	if got != want {
		t.Fatalf("node args\n got %s\nwant %s", got, want)
	}
}

func TestServeNodes_LocalClusterSharesThePorts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gows binary")
	}
	bin := buildGows(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	wsAddr := fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var out strings.Builder
	cmd := exec.CommandContext(ctx, bin, "serve", "--nodes", "2", "--http-addr", httpAddr, "--ws-addr", wsAddr, "--node-id", "t")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Each HTTP connection lands on one of the nodes (SO_REUSEPORT); both must answer.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	seen := map[string]bool{}
	testutil.Eventually(t, 60*time.Second, func() error {
		resp, err := client.Get("http://" + httpAddr + "/system/state")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				NodeID string `json:"nodeId"`
			} `json:"data"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return err
		}
		seen[body.Data.NodeID] = true
		if !seen["t-node1"] || !seen["t-node2"] {
			return fmt.Errorf("nodes answering so far: %v", seen)
		}
		return nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("launcher exit: %v\n%s", err, out.String())
	}
	for _, want := range []string{"[t-node1] ", "[t-node2] ", "all nodes stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out.String())
		}
	}
}
