package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/gows-dev/gows/internal/server"
	"github.com/gows-dev/gows/internal/server/cluster"
)

// serveOptions is the parsed command line of `gows serve`.
type serveOptions struct {
	// configFile is the YAML file read, "" for none.
	configFile string
	// config is server.Default() overlaid with the file, GOWS_* variables and flags.
	config server.Config
	// nodes > 1 runs that many node processes sharing the ports (see runNodes).
	nodes int
	// checkConfig only checks the configuration and prints it.
	checkConfig bool
}

// serveSettings lists every server.Config setting: its file key (the field's
// mapstructure tag, and GOWS_<KEY> in the environment), its flag and its help. Defaults
// come from server.Default(). A new server.Config field needs one row here and one entry
// in configs/gows.example.yaml; the tests check both.
func serveSettings() []setting {
	return []setting{
		{"http_addr", "http-addr", "listen address of the HTTP API, chat page, metrics and health checks"},
		{"ws_addr", "ws-addr", "listen address of the WebSocket endpoint"},
		{"ws_path", "ws-path", "path of the WebSocket endpoint"},
		{"grpc_addr", "grpc-addr", "listen address of the cluster's gRPC node service (used with Redis)"},
		{"public_ws_url", "public-ws-url", "WebSocket URL the chat page connects to; empty derives it from the page's host"},
		{"allowed_origins", "allowed-origins", "browser origins accepted besides the request's own host, comma-separated (https://chat.example.com, *.example.com)"},
		{"allowed_app_ids", "allowed-app-ids", "app ids allowed to log in, comma-separated; empty allows any"},
		{"max_conns", "max-conns", "most WebSocket connections on this node; 0 means the file limit minus a reserve"},
		{"max_message_bytes", "max-message-bytes", "largest inbound message in bytes; a larger one closes the connection (1009)"},
		{"send_queue", "send-queue", "outbound queue per connection, in messages; a client with a full queue is disconnected as slow"},
		{"login_timeout", "login-timeout", "close connections that do not log in within this time"},
		{"heartbeat_timeout", "heartbeat-timeout", "close connections that send nothing (heartbeat, message, ping or pong) within this time"},
		{"handshake_timeout", "handshake-timeout", "time limit for the WebSocket upgrade request"},
		{"write_timeout", "write-timeout", "drop a connection whose queued output makes no progress within this time"},
		{"drain_timeout", "drain-timeout", "time limit for the graceful shutdown after SIGINT or SIGTERM"},
		{"drain_delay", "drain-delay", "after SIGINT or SIGTERM, keep serving this long with /readyz answering 503 before closing, so load balancers notice"},
		{"request_timeout", "request-timeout", "time limit of one HTTP API request (a cluster-wide push waits for every node within it)"},
		{"max_conns_per_user", "max-conns-per-user", "most connections one appId+userId may have logged in at once, cluster-wide; 0 means no limit"},
		{"duplicate_login", "duplicate-login", "a login past max_conns_per_user: kick (close the user's oldest connection) or reject (refuse the new one)"},
		{"presence_limit", "presence-limit", "send enter/exit notices only in apps and rooms with at most this many users; 0 turns them off"},
		{"dedup_window", "dedup-window", "how long a pushed msgId is remembered; a repeat within it is acknowledged, not delivered"},
		{"workers", "workers", "goroutines that execute WebSocket commands; 0 means 8 x GOMAXPROCS"},
		{"reuseport", "reuseport", "let several processes share the listening ports (SO_REUSEPORT)"},
		{"pprof_public", "pprof-public", "serve /debug/pprof/ to non-loopback clients too"},
		{"auth_secret", "auth-secret", "HMAC secret (16+ bytes) that signs login tokens (HS256/384/512 JWT, sub = userId); empty with no public key: open mode"},
		{"auth_public_key", "auth-public-key", "PEM file with the public key that verifies login tokens: RSA 2048+ bits (RS256/384/512), ECDSA P-256/P-384/P-521 (ES256/ES384/ES512) or Ed25519 (EdDSA)"},
		{"auth_issuer", "auth-issuer", "iss claim every login token must carry; empty: not checked"},
		{"auth_audience", "auth-audience", "audience every login token's aud claim must name; empty: not checked"},
		{"max_login_failures", "max-login-failures", "close a connection (4004) after this many failed logins or refreshes in a row"},
		{"admin_token", "admin-token", "bearer token for the admin HTTP routes; empty: they answer clients on this machine only"},
		{"tls_cert", "tls-cert", "PEM certificate file: serve wss:// and https:// (with --tls-key)"},
		{"tls_key", "tls-key", "PEM private key file for --tls-cert"},
		{"max_conns_per_ip", "max-conns-per-ip", "most WebSocket connections per client address, an IPv6 /64 counting as one (HTTP 429 past it); 0 means no cap"},
		{"max_rooms", "max-rooms", "most rooms one WebSocket connection may be in (a join past it is refused, 1009); 0 means no cap"},
		{"trusted_proxies", "trusted-proxies", "proxies (addresses or CIDRs) whose X-Forwarded-For names the real client, comma-separated"},
		{"message_rate", "message-rate", "inbound messages per second allowed per connection; 0 means no limit"},
		{"message_burst", "message-burst", "burst of inbound messages allowed per connection above the rate"},
		{"echo_path", "echo-path", "serve a raw WebSocket echo endpoint at this path on the WebSocket port (for conformance suites); empty: off"},
		{"node_id", "node-id", "name of this node in logs, /system/state and the cluster; empty means hostname-pid"},
		{"cluster.redis", "redis", "Redis URL (redis://host:port/db) that joins this node to a cluster; empty: a single node, all in memory"},
		{"cluster.redis_addrs", "redis-addrs", "Redis seed addresses, comma-separated: Sentinels with --redis-master, else two or more Redis Cluster nodes (one address is one plain Redis)"},
		{"cluster.redis_master", "redis-master", "Sentinel master name (with --redis-addrs)"},
		{"cluster.redis_password", "redis-password", "password for the --redis-addrs servers (a --redis URL carries its own)"},
		{"cluster.redis_prefix", "redis-prefix", "prefix of every Redis key of this cluster"},
		{"cluster.redis_timeout", "redis-timeout", "deadline of every Redis call; after a failure, cluster-wide operations fail at once until Redis answers"},
		{"cluster.node_ttl", "node-ttl", "lease of this node in the cluster registry, renewed every third of it; a dead node's users are gone within twice this"},
		{"cluster.token", "cluster-token", "shared secret required on every gRPC call between nodes; empty: none (trusted network only)"},
		{"cluster.rpc_timeout", "rpc-timeout", "deadline of every gRPC call to another node (push, broadcast, kick)"},
		{"cluster.tls_cert", "cluster-tls-cert", "PEM certificate this node presents to the other nodes (gRPC mutual TLS, with --cluster-tls-key and --cluster-tls-ca)"},
		{"cluster.tls_key", "cluster-tls-key", "PEM private key of --cluster-tls-cert"},
		{"cluster.tls_ca", "cluster-tls-ca", "PEM CA file: accept only nodes whose certificate it signed"},
		{"cluster.advertise_host", "advertise-host", "host other nodes use to reach this node's gRPC and HTTP ports; empty: the listen host, or the host name for a wildcard"},
		{"log_level", "log-level", "log level: debug, info, warn or error"},
		{"log_format", "log-format", "log format on stderr: text or json"},
	}
}

func newServeCmd(s *streams, runF func(context.Context, *serveOptions) error) *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a gows node",
		Long: `Run a gows node: the WebSocket endpoint, the HTTP API, the web chat page, metrics
and health checks. With no configuration it is a single node with everything in memory.

Every setting comes from, in falling precedence: a flag, an environment variable, the
config file (--config or $GOWS_CONFIG, YAML), the built-in default. The variable is
shown after each flag; the file key is the variable's name without GOWS_, in lower case
(GOWS_HTTP_ADDR is http_addr), except that the GOWS_CLUSTER_* settings are keys under
cluster: (GOWS_CLUSTER_REDIS is redis under cluster:). Lists are comma-separated in flags
and variables, YAML lists in the file. Durations take a unit: 500ms, 10s, 6m.
configs/gows.example.yaml lists every key with its default.

SIGINT or SIGTERM stops accepting, closes every connection with 1001 (going away) and
exits 0 once drained, within --drain-timeout.`,
		Example: `  gows serve
  gows serve --http-addr 127.0.0.1:8080 --ws-addr 127.0.0.1:8089 --log-level debug
  GOWS_ALLOWED_ORIGINS=https://chat.example.com,*.example.com gows serve
  gows serve --config /etc/gows/gows.yaml --log-format json
  gows serve --config /etc/gows/gows.yaml --check-config   # check before a restart
  gows serve --nodes 4 --redis redis://127.0.0.1:6379/0   # a local 4-process cluster`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.configFile = configFile(opts.configFile)
			cfg, err := loadConfig(cmd.Flags(), opts.configFile, server.Default(), serveSettings())
			if err != nil {
				return err
			}
			opts.config = cfg
			if opts.nodes < 1 {
				return usageErrorf("--nodes: must be at least 1, got %d", opts.nodes)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			if opts.checkConfig {
				return checkServeConfig(s, opts)
			}
			if opts.nodes > 1 {
				return runNodes(cmd.Context(), s, opts, cmd.Flags())
			}
			return runServe(cmd.Context(), s, opts)
		},
	}
	cmd.Flags().StringVar(&opts.configFile, "config", "", "YAML config file [$"+configFileEnv+"]")
	cmd.Flags().IntVar(&opts.nodes, "nodes", 1, "run this many node processes sharing the WebSocket and HTTP ports (SO_REUSEPORT), each with its own gRPC port (on the host of --grpc-addr, else of --ws-addr), restarted if they die; more than 1 needs --redis")
	cmd.Flags().BoolVar(&opts.checkConfig, "check-config", false, "check the configuration (values, and the TLS and key files it names), print it as YAML with secrets hidden, and exit: 0 if it is valid, 1 if not; binds no address and reaches no Redis")
	addSettingFlags(cmd.Flags(), server.Default(), serveSettings())
	completeValues(cmd, "log-level", "debug", "info", "warn", "error")
	completeValues(cmd, "log-format", "text", "json")
	completeValues(cmd, "duplicate-login", "kick", "reject")
	return cmd
}

// checkServeConfig checks opts.config as a node would at its start, short of binding its
// addresses and reaching Redis, and prints the settings in effect.
func checkServeConfig(s *streams, opts *serveOptions) error {
	if err := server.Check(opts.config); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	fmt.Fprintf(s.out, "# configuration is valid (config file: %s); secrets are shown as %q\n",
		cmp.Or(opts.configFile, "none"), hiddenSecret)
	enc := yaml.NewEncoder(s.out)
	enc.SetIndent(2) // as in configs/gows.example.yaml
	if err := enc.Encode(settingsTree(opts.config, serveSettings(), serveSecrets())); err != nil {
		return err
	}
	return enc.Close()
}

// serveSecrets returns the settings --check-config does not print.
func serveSecrets() []string {
	return []string{"auth_secret", "admin_token", "cluster.token", "cluster.redis_password"}
}

// outliveLogReader keeps a node (or the launcher) running when the reader of its
// output goes away: `gows serve 2>&1 | tee log` ended by Ctrl-C loses tee with the same
// signal, and Go's default is to die of SIGPIPE at the next log line, mid-drain, leaving
// the node registered in Redis. Ignored, a write fails with EPIPE and the drain goes on.
func outliveLogReader() { signal.Ignore(syscall.SIGPIPE) }

// runServe runs a node until SIGINT or SIGTERM (or ctx) stops it and it has drained.
func runServe(ctx context.Context, s *streams, opts *serveOptions) error {
	cfg := opts.config
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log := newLogger(s.err, cfg.LogLevel, cfg.LogFormat)
	slog.SetDefault(log)
	cluster.SetRedisLogger(log) // go-redis's own chatter at debug level; outages are logged once by the broker

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, restore the default handling so that a second one
	// interrupts a drain that takes too long.
	defer context.AfterFunc(ctx, stop)()
	outliveLogReader()

	if opts.configFile != "" {
		log.Info("config file loaded", "path", opts.configFile)
	}
	srv, err := server.New(cfg, server.Deps{Logger: log, Version: currentBuild().Version})
	if err != nil {
		return fmt.Errorf("start server: %w", err)
	}
	if err := srv.Run(ctx); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newLogger builds the process logger. level and format have passed
// server.Config.Validate; an unknown level falls back to info.
func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated already; on error lv stays info
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		// JSON would write a duration as integer nanoseconds ("ttl":15000000000); write it
		// as the text form flags and the config file take ("ttl":"15s").
		opts.ReplaceAttr = func(_ []string, a slog.Attr) slog.Attr {
			if a.Value.Kind() == slog.KindDuration {
				a.Value = slog.StringValue(a.Value.Duration().String())
			}
			return a
		}
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
