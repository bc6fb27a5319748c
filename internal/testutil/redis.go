package testutil

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Redis is a redis-server process started for one test on a free loopback port. It is
// killed and reaped when the test ends. Its methods are safe for concurrent use.
type Redis struct {
	t    testing.TB
	Addr string // 127.0.0.1:port
	Port int
	dir  string
	args []string // extra server arguments

	sentinelConf string // set for a Sentinel: its config file

	mu     sync.Mutex // guards cmd and exited
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been reaped
}

// InCI reports whether the tests run in CI (CI set to anything but "", 0, false or no):
// there a missing tool is a failure, not a skip.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// NeedCommand skips the test when the command is missing, or fails it in CI.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if InCI() {
			t.Fatalf("%s is missing and CI is set: install it (see .ci/run)", name)
		}
		t.Skipf("%s is missing; install it to run this test", name)
	}
	return path
}

// StartRedis runs a redis-server for the test: `--port N --bind 127.0.0.1 --save ""
// --appendonly no --dir t.TempDir()` plus args. It waits until the process answers, and retries
// with another port if the chosen one was taken meanwhile.
func StartRedis(t testing.TB, args ...string) *Redis {
	t.Helper()
	NeedCommand(t, "redis-server")
	r := &Redis{t: t, dir: t.TempDir(), args: args}
	t.Cleanup(r.Kill)
	var err error
	for range 5 {
		r.Port = FreePort(t)
		r.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Port))
		if err = r.start(); err == nil {
			return r
		}
	}
	t.Fatalf("start redis-server: %v", err)
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return port
}

// URL returns redis://ADDR/0.
func (r *Redis) URL() string { return "redis://" + r.Addr + "/0" }

func (r *Redis) start() error {
	args := append([]string{"--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", r.dir}, r.args...)
	if r.sentinelConf != "" {
		args = []string{r.sentinelConf, "--sentinel"}
	}
	cmd := exec.Command("redis-server", args...)
	logf, err := os.OpenFile(filepath.Join(r.dir, "redis.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // killed by the test: the exit status is expected
		close(exited)
	}()
	r.mu.Lock()
	r.cmd, r.exited = cmd, exited
	r.mu.Unlock()

	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// The port was free a moment ago; another test's redis-server may have taken it
		// since, and then ours exits while that one answers PING. Only ours counts.
		if pid, err := r.pid(); err == nil {
			if pid == cmd.Process.Pid {
				return nil
			}
			r.Kill()
			return fmt.Errorf("port %d is taken by another redis-server (pid %d)", r.Port, pid)
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log")) // for the message only
			return fmt.Errorf("redis-server on port %d exited: %s", r.Port, lastLines(log, 5))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			r.Kill()
			return fmt.Errorf("redis-server on port %d did not answer within 10s", r.Port)
		}
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// pid asks the server on r.Addr for its process id (INFO server).
func (r *Redis) pid() (int, error) {
	info, err := r.Command(time.Second, "INFO", "server")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, fmt.Errorf("INFO server has no process_id")
}

// Command sends one command (RESP2, on a new connection) and returns the first line of
// the answer without its type byte. It is enough for INFO server, CLIENT PAUSE, CLUSTER INFO
// and INFO memory checks in tests.
func (r *Redis) Command(timeout time.Duration, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", r.Addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close() // one command per connection
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write(b.Bytes()); err != nil {
		return "", err
	}
	rd := bufio.NewReader(c)
	line, err := rd.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("empty answer")
	}
	switch line[0] {
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", err
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(rd, body); err != nil {
			return "", err
		}
		return string(body[:n]), nil
	}
	return line[1:], nil
}

// Kill stops redis-server with SIGKILL and reaps it. Calling it twice is harmless.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL) // fails only if it has exited already
	<-exited
}

// Restart kills redis-server and starts a new one, with no data, on the same port.
func (r *Redis) Restart() {
	r.t.Helper()
	r.Kill()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var err error
	for range 50 { // redis-server reuses the address, but give a lingering port a second
		if err = r.start(); err == nil {
			return
		}
		<-tick.C
	}
	r.t.Fatalf("restart redis-server on port %d: %v", r.Port, err)
}

// Pause stops the process with SIGSTOP: connections stay open and nothing answers.
func (r *Redis) Pause() { r.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (r *Redis) Resume() { r.signal(syscall.SIGCONT) }

func (r *Redis) signal(sig syscall.Signal) {
	r.t.Helper()
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal redis-server: %v", err)
	}
}

// RedisCluster is a Redis Cluster of three masters on loopback ports, started for one
// test.
type RedisCluster struct {
	Nodes []*Redis
	Addrs []string
}

// StartRedisCluster runs three redis-server processes in cluster mode, joins them with
// `redis-cli --cluster create` and waits until every node reports cluster_state:ok.
func StartRedisCluster(t testing.TB) *RedisCluster {
	t.Helper()
	NeedCommand(t, "redis-server")
	cli := NeedCommand(t, "redis-cli")
	rc := &RedisCluster{}
	for range 3 {
		bus := FreePort(t)
		n := StartRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "2000")
		rc.Nodes = append(rc.Nodes, n)
		rc.Addrs = append(rc.Addrs, n.Addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, rc.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	Eventually(t, 20*time.Second, func() error {
		for _, n := range rc.Nodes {
			info, err := n.Command(time.Second, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster not ready", n.Addr)
			}
		}
		return nil
	})
	return rc
}

// StartRedisSentinel runs a Sentinel (redis-server --sentinel) that monitors master as
// "mymaster" with a quorum of one, and returns it; clients find the master through it.
func StartRedisSentinel(t testing.TB, master *Redis) *Redis {
	t.Helper()
	NeedCommand(t, "redis-server")
	s := &Redis{t: t, dir: t.TempDir()}
	t.Cleanup(s.Kill)
	var err error
	for range 5 {
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		conf := filepath.Join(s.dir, "sentinel.conf") // Sentinel rewrites its config file
		text := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %d 1\nsentinel down-after-milliseconds mymaster 5000\n",
			s.Port, s.dir, master.Port)
		if err = os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		s.sentinelConf = conf
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("start redis sentinel: %v", err)
	return nil
}
