package server_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/testutil"
)

// gowsProcess is a `gows serve` process started by a test.
type gowsProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	WSURL   string
	HTTPURL string
}

// buildGows builds the gows binary for process tests.
func buildGows(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gows")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/gows-dev/gows/cmd/gows").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/gows: %v\n%s", err, out)
	}
	return bin
}

// startGows runs `gows serve` with args on free loopback ports and waits until it is
// ready. The process is killed and reaped when the test ends. The ports were free a
// moment before the process binds them; when another process took one meanwhile, it
// tries again with new ports.
func startGows(t *testing.T, bin string, args ...string) *gowsProcess {
	t.Helper()
	var err error
	for range 5 {
		var p *gowsProcess
		if p, err = tryStartGows(t, bin, args); err == nil {
			return p
		}
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	t.Fatal(err)
	return nil
}

// tryStartGows starts one `gows serve` process and waits until it is ready; it returns
// an error with the log when the process exits first.
func tryStartGows(t *testing.T, bin string, args []string) (*gowsProcess, error) {
	t.Helper()
	httpAddr := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	wsAddr := "127.0.0.1:" + strconv.Itoa(testutil.FreePort(t))
	args = append([]string{"serve", "--http-addr", httpAddr, "--ws-addr", wsAddr, "--grpc-addr", "127.0.0.1:0",
		"--log-level", "warn"}, args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "gows.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gowsProcess{cmd: cmd, exited: make(chan struct{}), WSURL: "ws://" + wsAddr + "/acc", HTTPURL: "http://" + httpAddr}
	go func() {
		_ = cmd.Wait() // the test kills it; the status is expected
		_ = logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL) // fails only if it has exited already
		<-p.exited
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("gows log:\n%s", b)
			}
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// A process that has exited is not ready, whoever answers on its port.
		if p.ready() == nil {
			select {
			case <-p.exited:
			default:
				return p, nil
			}
		}
		select {
		case <-p.exited:
			b, _ := os.ReadFile(logf.Name()) // for the message only
			return nil, fmt.Errorf("gows serve %v exited: %s", args, b)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gows serve %v: not ready after 20s: %v", args, p.ready())
		}
	}
}

// ready asks the process's /readyz.
func (p *gowsProcess) ready() error {
	resp, err := http.Get(p.HTTPURL + "/readyz")
	if err != nil {
		return err
	}
	_ = resp.Body.Close() // only the status matters
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %d", resp.StatusCode)
	}
	return nil
}

// TestCluster_KilledNodeIsForgotten: a node process killed with SIGKILL cannot
// deregister; within two TTLs the other nodes stop listing and routing to its users,
// and a push to them answers "not online" (1005) at once.
func TestCluster_KilledNodeIsForgotten(t *testing.T) {
	r := testutil.StartRedis(t)
	bin := buildGows(t)
	n1 := testutil.StartServer(t, inCluster(t, "n1", r.URL()))
	victim := startGows(t, bin, "--redis", r.URL(), "--redis-prefix", keyPrefix(t), "--node-id", "victim",
		"--node-ttl", testNodeTTL.String(), "--redis-timeout", testRedisTimeout.String())
	waitClusterSize(t, 2, n1)
	login(t, n1, 101, "alice")
	bob := testutil.Dial(t, victim.WSURL, nil)
	bob.Login(101, "bob")
	waitOnline(t, n1, "bob", "victim")

	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.exited
	killed := time.Now()
	testutil.Eventually(t, 4*testNodeTTL, func() error {
		code, p := userList(t, n1, "/user/list?appId=101")
		if code != http.StatusOK || !slices.Equal(p.UserList, []string{"alice"}) {
			return fmt.Errorf("user list: %d %+v", code, p)
		}
		if _, p := online(t, n1, "bob"); p.Online {
			return fmt.Errorf("bob still online on %s", p.NodeID)
		}
		return nil
	})
	if took := time.Since(killed); took > 2*testNodeTTL {
		t.Errorf("the killed node's users were listed for %s, want at most 2 x TTL = %s", took, 2*testNodeTTL)
	}
	start := time.Now()
	_, a := pushForm(t, n1, "/user/sendMessage", sendTo("bob", "x"), http.StatusNotFound)
	if took := time.Since(start); a.Code != protocol.NotData || took >= testRPCTimeout/2 { // not an RPC's wait
		t.Fatalf("push to the killed node's user: code %d after %s, want 1005 at once", a.Code, took)
	}
	waitClusterSize(t, 1, n1)
}
