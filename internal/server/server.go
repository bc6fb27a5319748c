// Package server composes the gows hub: the WebSocket engine, the hub, the HTTP API and
// (with Redis configured) the cluster. New builds it from a Config; Run serves until the
// context is cancelled and then shuts down in order.
package server

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/auth"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/server/hub"
	"github.com/gows-dev/gows/internal/server/rpc"
)

// Deps are the server's collaborators that do not come from configuration.
type Deps struct {
	// Logger receives all logs; nil discards them.
	Logger *slog.Logger
	// Version is reported by /system/state.
	Version string
}

// Server is one gows node. Create it with New and run it with Run.
type Server struct {
	cfg     Config
	log     *slog.Logger
	version string
	nodeID  string
	started time.Time
	mem     memReader // RSS and PSS for /system/state and the registry

	hub     *hub.Hub
	engine  *conn.Engine
	origins *auth.OriginPolicy
	sec     *security
	work    *workers
	metrics *metrics
	ids     atomic.Uint64 // message id sequence
	appsOK  map[uint32]bool

	httpLn   net.Listener
	httpSrv  *http.Server
	draining atomic.Bool

	// Cluster (cluster.go). broker is Memory without Redis; the rest is nil or empty
	// without a cluster.
	broker    cluster.Broker
	redis     *cluster.Redis
	peers     *rpc.Peers
	notices   *noticeForwarder // presence notices for the other nodes; nil without a cluster
	grpcLn    net.Listener
	grpcSrv   *grpc.Server
	grpcAddr  string         // registered gRPC address
	httpAdv   string         // registered HTTP address
	kicks     sync.WaitGroup // kicks of replaced sessions on other nodes
	kickSlots chan struct{}  // bounds kicks
}

// Check validates cfg and reads the files it names (TLS certificates and keys, the key
// that verifies login tokens), as New does, without binding an address or reaching
// Redis: what `gows serve --check-config` runs before a restart.
func Check(cfg Config) error {
	_, _, err := prepare(cfg, slog.New(slog.DiscardHandler))
	return err
}

// prepare validates cfg and builds what it names short of binding or dialling: the
// Origin policy and the security settings (tokens, TLS files). Check and New share it.
func prepare(cfg Config, log *slog.Logger) (*auth.OriginPolicy, *security, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	origins, err := auth.NewOriginPolicy(cfg.AllowedOrigins)
	if err != nil {
		return nil, nil, fmt.Errorf("allowed_origins: %w", err)
	}
	sec, err := newSecurity(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return origins, sec, nil
}

// New validates cfg and binds the WebSocket and HTTP listeners, so address errors surface
// here. If Run is not called, Close releases them.
func New(cfg Config, deps Deps) (*Server, error) {
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	origins, sec, err := prepare(cfg, log)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:       cfg,
		log:       log,
		version:   deps.Version,
		nodeID:    cfg.NodeID,
		started:   time.Now(),
		hub:       hub.New(cfg.MaxConnsPerUser),
		origins:   origins,
		sec:       sec,
		kickSlots: make(chan struct{}, maxTakeoverKicks),
	}
	proxies, err := cfg.trustedProxies()
	if err != nil {
		return nil, err
	}
	if s.nodeID == "" {
		host, _ := os.Hostname() // "" is fine: the pid still tells nodes apart on one host
		s.nodeID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if s.version == "" {
		s.version = "dev"
	}
	if len(cfg.AllowedAppIDs) > 0 {
		s.appsOK = make(map[uint32]bool, len(cfg.AllowedAppIDs))
		for _, a := range cfg.AllowedAppIDs {
			s.appsOK[a] = true
		}
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = workersPerCPU * runtime.GOMAXPROCS(0)
	}
	s.work = newWorkers(workers, s.handleJob)
	s.engine, err = conn.New(conn.Config{
		Addr:             cfg.WSAddr,
		ReusePort:        cfg.ReusePort,
		MaxConns:         cfg.MaxConns,
		MaxMessageBytes:  cfg.MaxMessageBytes,
		SendQueue:        cfg.SendQueue,
		HandshakeTimeout: cfg.HandshakeTimeout,
		IdleTimeout:      cfg.HeartbeatTimeout,
		WriteTimeout:     cfg.WriteTimeout,
		DrainTimeout:     cfg.DrainTimeout,
		Resolution:       resolution(cfg),
		MaxConnsPerIP:    cfg.MaxConnsPerIP,
		TrustedProxies:   proxies,
		MessageRate:      float64(cfg.MessageRate),
		MessageBurst:     cfg.MessageBurst,
		TLS:              s.sec.tls,
		Logger:           log.With("component", "ws"),
	}, &wsHandler{s: s})
	if err != nil {
		return nil, fmt.Errorf("ws_addr: %w", err)
	}
	s.httpLn, err = listenTCP(cfg.HTTPAddr, cfg.ReusePort)
	if err != nil {
		_ = s.engine.Close() // best effort: New is failing
		return nil, fmt.Errorf("http_addr: %w", err)
	}
	s.httpAdv = advertised(s.httpLn.Addr(), cfg.Cluster.AdvertiseHost)
	if err := s.newBroker(); err != nil {
		_ = s.Close() // best effort: New is failing
		return nil, err
	}
	if cfg.Cluster.Enabled() {
		if err := s.newRPC(); err != nil {
			_ = s.Close() // best effort: New is failing
			return nil, err
		}
	}
	s.metrics = newMetrics(s)
	s.httpSrv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          stdlog.New(httpErrorLog{log}, "", 0),
	}
	return s, nil
}

// workersPerCPU sizes the worker pool when Config.Workers is 0: commands mostly wait on
// Redis or a peer, so there are several workers per CPU.
const workersPerCPU = 8

// Limits of the HTTP server (the API, metrics, pprof and the chat page), so that a slow
// or idle client cannot hold a connection open. The write timeout leaves room for
// pprof's default 30-second profile.
const (
	httpReadHeaderTimeout = 10 * time.Second
	httpReadTimeout       = 30 * time.Second
	httpWriteTimeout      = 60 * time.Second
	httpIdleTimeout       = 2 * time.Minute
	httpMaxHeaderBytes    = 64 << 10
)

// httpErrorLog carries net/http's own log lines (a handler's panic, a broken
// connection) to the node's log at warn, except failed TLS handshakes, at debug: a
// scanner, or a plain-HTTP client on an https port, makes one per attempt.
type httpErrorLog struct{ log *slog.Logger }

func (h httpErrorLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	level := slog.LevelWarn
	if strings.HasPrefix(msg, "http: TLS handshake error") {
		level = slog.LevelDebug
	}
	h.log.Log(context.Background(), level, msg)
	return len(p), nil
}

// resolution is how often the engine checks deadlines: a quarter of the shortest timeout
// it enforces, between 10ms and 1s.
func resolution(cfg Config) time.Duration {
	d := min(cfg.LoginTimeout, cfg.HeartbeatTimeout, cfg.HandshakeTimeout, cfg.WriteTimeout) / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

func listenTCP(addr string, reusePort bool) (net.Listener, error) {
	lc := net.ListenConfig{}
	if reusePort {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return lc.Listen(context.Background(), "tcp", addr)
}

// NodeID returns the node's id.
func (s *Server) NodeID() string { return s.nodeID }

// WSAddr returns the bound WebSocket address.
func (s *Server) WSAddr() net.Addr { return net.TCPAddrFromAddrPort(s.engine.Addr()) }

// HTTPAddr returns the bound HTTP address.
func (s *Server) HTTPAddr() net.Addr { return s.httpLn.Addr() }

// Close releases the listeners and the Redis client of a server whose Run was never
// called.
func (s *Server) Close() error {
	errs := []error{s.engine.Close(), s.httpLn.Close()}
	if s.grpcLn != nil {
		errs = append(errs, s.grpcLn.Close())
	}
	if s.redis != nil {
		errs = append(errs, s.redis.Close())
	}
	return errors.Join(errs...)
}

// Run serves until ctx is cancelled, then shuts down in order:
//
//  1. mark the node draining (in Redis too) and stop accepting: HTTP, gRPC and
//     WebSocket listeners;
//  2. close every WebSocket with 1001 (going away) and wait up to DrainTimeout for them
//     and for their logouts;
//  3. wait for the presence writes of the logouts (and the exits they tell), stop
//     forwarding presence notices to the other nodes, then deregister the node and its
//     users from Redis and close Redis, last.
//
// It returns nil after every goroutine it started has exited, or the first fatal error.
func (s *Server) Run(ctx context.Context) error {
	s.log.Info("gows node starting", "node_id", s.nodeID, "version", s.version,
		"ws_addr", s.WSAddr().String(), "ws_path", s.cfg.WSPath, "http_addr", s.HTTPAddr().String(),
		"grpc_addr", s.grpcAddr, "cluster", s.cfg.Cluster.Enabled(), "max_conns", s.engine.MaxConns())
	// The broker outlives the listeners and connections: it writes their logouts and
	// deregisters the node after them.
	brokerCtx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBroker()
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- s.broker.Run(brokerCtx) }()

	// The notice forwarder outlives the connections too: their exits are forwarded.
	noticesCtx, stopNotices := context.WithCancel(context.WithoutCancel(ctx))
	defer stopNotices()
	noticesDone := make(chan struct{})
	go func() {
		defer close(noticesDone)
		if s.notices != nil {
			s.notices.run(noticesCtx)
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	// stopCtx ends the listeners and connections once the node is marked draining.
	stopCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	g.Go(func() error {
		<-gctx.Done()
		s.draining.Store(true)
		s.log.Info("draining", "connections", s.engine.Stats().Open, "drain_delay", s.cfg.DrainDelay, "drain_timeout", s.cfg.DrainTimeout)
		dctx, cancel := context.WithTimeout(stopCtx, s.cfg.Cluster.RedisTimeout)
		if err := s.broker.Drain(dctx); err != nil {
			s.log.Warn("mark node draining in the cluster", "err", err)
		}
		cancel()
		// Serving as before, with /readyz answering 503: load balancers that poll it take
		// the node out of rotation before its listeners close.
		time.Sleep(s.cfg.DrainDelay)
		stop()
		return nil
	})
	engineDone := make(chan struct{})
	g.Go(func() error {
		defer close(engineDone)
		return s.engine.Run(stopCtx)
	})
	g.Go(func() error { return s.work.run(engineDone) })
	// The HTTP API outlives the WebSocket drain: /readyz answers 503 and pushes reach
	// the connections that are still closing.
	g.Go(func() error { return s.serveHTTP(engineDone) })
	if s.grpcSrv != nil {
		g.Go(func() error { return s.serveGRPC(stopCtx) })
	}
	err := g.Wait()
	// The connections' logouts are queued; once written, their users' exits are queued
	// for the forwarder, which then has its own budget to send them.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.Cluster.RPCTimeout)
	if serr := s.broker.Sync(sctx); serr != nil {
		s.log.Warn("presence writes not all done before the node stopped", "err", serr)
	}
	cancel()
	stopNotices()
	<-noticesDone
	stopBroker()
	err = errors.Join(err, <-brokerDone)
	s.kicks.Wait()
	if s.peers != nil {
		err = errors.Join(err, s.peers.Close())
	}
	s.log.Info("gows node stopped", "node_id", s.nodeID, "err", err)
	return err
}

// serveHTTP serves the HTTP API until stopped is closed, then shuts it down within the
// drain timeout.
func (s *Server) serveHTTP(stopped <-chan struct{}) error {
	errc := make(chan error, 1)
	go func() {
		if s.sec.tls != nil {
			// ServeTLS adds its protocols to the config: give it its own copy, the
			// WebSocket engine uses the original concurrently.
			s.httpSrv.TLSConfig = s.sec.tls.Clone()
			errc <- s.httpSrv.ServeTLS(s.httpLn, "", "")
			return
		}
		errc <- s.httpSrv.Serve(s.httpLn)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-stopped:
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	if err := s.httpSrv.Shutdown(sctx); err != nil {
		// Requests still running are cut off: say so, as for any work accepted and lost.
		s.log.Warn("http drain timed out: closing the requests still open", "drain_timeout", s.cfg.DrainTimeout, "err", err)
		_ = s.httpSrv.Close() // the listener and idle connections are closed already; this ends the rest
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	return nil
}

// routes builds the HTTP handler: the API, metrics, pprof and the chat page.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	a := api.New(api.Config{RequestTimeout: s.cfg.RequestTimeout, Ready: func() bool { return !s.draining.Load() }}, backend{s})
	for _, p := range a.Routes() {
		switch p {
		case "/healthz", "/readyz":
			mux.Handle(p, a) // health checks stay public
		default:
			mux.Handle(p, s.adminOnly(a))
		}
	}
	mux.Handle("/metrics", s.adminOnly(promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})))
	pp := http.NewServeMux()
	pp.HandleFunc("/debug/pprof/", pprof.Index)
	pp.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
	pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
	if s.cfg.PprofPublic {
		mux.Handle("/debug/pprof/", pp)
	} else {
		mux.Handle("/debug/pprof/", s.adminOnly(pp))
	}
	mux.Handle("/", s.pageHandler())
	return mux
}

// newMsgID returns a node-unique message id.
func (s *Server) newMsgID() string {
	return fmt.Sprintf("%s-%d-%d", s.nodeID, s.started.UnixMilli(), s.ids.Add(1))
}

func (s *Server) appAllowed(app uint32) bool {
	return s.appsOK == nil || s.appsOK[app]
}
