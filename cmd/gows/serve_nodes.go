package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/gows-dev/gows/internal/launcher"
	"github.com/gows-dev/gows/internal/server"
)

// launcherOwnFlag reports whether a serve flag is one the launcher sets per node itself;
// the user's value is replaced (grpc-addr keeps its host, with port 0).
func launcherOwnFlag(name string) bool {
	switch name {
	case "nodes", "node-id", "reuseport", "grpc-addr", "config":
		return true
	}
	return false
}

// runNodes runs `gows serve --nodes N`: N node processes of this binary that share the
// WebSocket and HTTP addresses through SO_REUSEPORT, each with its own gRPC port (picked
// by the kernel) and node id, supervised by internal/launcher until SIGINT or SIGTERM.
func runNodes(ctx context.Context, s *streams, opts *serveOptions, flags *pflag.FlagSet) error {
	cfg := opts.config
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	if !cfg.Cluster.Enabled() {
		// Each node would know only its own users, and the kernel picks the node that
		// answers an HTTP request: a push would find its user one time in N.
		return usageErrorf("--nodes %d needs --redis (or --redis-addrs): the nodes share the HTTP port, "+
			"and only as a cluster does each of them reach the users of the others", opts.nodes)
	}
	log := newLogger(s.err, cfg.LogLevel, cfg.LogFormat).With("component", "launcher")
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the gows binary: %w", err)
	}
	args := nodeArgs(flags, opts.configFile)
	grpcHost, err := nodesGRPCHost(cfg.GRPCAddr, cfg.WSAddr)
	if err != nil {
		return err
	}
	base := cfg.NodeID
	if base == "" {
		base, _ = os.Hostname() // "" still yields distinct names: -node1, -node2
	}
	name := func(i int) string { return fmt.Sprintf("%s-node%d", base, i+1) }
	// Nodes that outnumber the cores get one Go P each (unless GOMAXPROCS says otherwise):
	// fewer threads for the kernel to schedule, the same work done.
	env := os.Environ()
	if _, set := os.LookupEnv("GOMAXPROCS"); !set {
		env = append(env, fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/opts.nodes)))
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal (which the launcher passes on to every node as one SIGTERM),
	// restore the default handling: a second one ends the launcher at once, and with it
	// the nodes (they die with their parent on Linux), as a second signal ends one node.
	defer context.AfterFunc(ctx, stop)()
	outliveLogReader()
	log.Info("starting local cluster", "nodes", opts.nodes, "ws_addr", cfg.WSAddr, "http_addr", cfg.HTTPAddr)
	return launcher.Run(ctx, launcher.Config{
		Nodes:       opts.nodes,
		Exe:         exe,
		Name:        name,
		Args:        func(i int) []string { return nodeServeArgs(args, name(i), grpcHost) },
		Env:         env,
		Stdout:      s.out,
		Stderr:      s.err,
		StopTimeout: stopBudget(cfg),
		Logger:      log,
	})
}

// nodesGRPCHost is the host the nodes' gRPC listeners bind: grpc_addr's, or when that
// names none (the default ":9001"), ws_addr's, so that nodes whose clients are kept to
// one address do not open their unauthenticated cluster ports on every interface.
func nodesGRPCHost(grpcAddr, wsAddr string) (string, error) {
	host, _, err := net.SplitHostPort(grpcAddr)
	if err != nil {
		return "", fmt.Errorf("grpc_addr: %w", err)
	}
	if host != "" {
		return host, nil
	}
	host, _, err = net.SplitHostPort(wsAddr)
	if err != nil {
		return "", fmt.Errorf("ws_addr: %w", err)
	}
	return host, nil
}

// nodeServeArgs is the command line of the node named nodeID: serve with args, sharing
// the ports, on a gRPC port of its own. It copies args, which the launcher's goroutines
// share (appending to args itself would let them write over each other's node ids in
// its spare capacity).
func nodeServeArgs(args []string, nodeID, grpcHost string) []string {
	return slices.Concat([]string{"serve"}, args,
		[]string{"--reuseport", "--node-id=" + nodeID, "--grpc-addr=" + net.JoinHostPort(grpcHost, "0")})
}

// nodeArgs rebuilds the serve flags the user set, minus the launcher's own, so every node
// gets the same settings; environment variables and the config file are inherited.
func nodeArgs(flags *pflag.FlagSet, configFile string) []string {
	var args []string
	if configFile != "" {
		args = append(args, "--config="+configFile)
	}
	flags.Visit(func(f *pflag.Flag) {
		if launcherOwnFlag(f.Name) {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

// stopBudget is how long the launcher lets a node stop after its SIGTERM before killing
// it: the longest that server.Run's shutdown takes by cfg (marking the node draining,
// the drain delay, closing the connections and then the HTTP server within the drain
// timeout each, forwarding the last presence notices and waiting for kicks within the
// RPC timeout, deregistering), and 5s to spare. Less would kill a node that is still
// draining by the book, which its clients see as 1006 and the cluster as a node whose
// users linger until its lease runs out.
func stopBudget(cfg server.Config) time.Duration {
	c := cfg.Cluster
	return c.RedisTimeout + cfg.DrainDelay + 2*cfg.DrainTimeout + 3*c.RPCTimeout +
		max(c.NodeTTL, 4*c.RedisTimeout) + 5*time.Second
}
