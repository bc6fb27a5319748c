package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/bench"
)

// benchOptions is the parsed command line of `gows bench`.
type benchOptions struct {
	urls           []string
	conns          int
	sourceIPs      string
	rate           float64
	login          bool
	appID          uint32
	userPrefix     string
	hold           time.Duration
	heartbeat      time.Duration
	echo           int
	echoRounds     int
	broadcast      bool
	servers        []string
	serverToken    string
	authSecret     string
	workers        int
	loops          int
	maxFailures    int
	closeMode      string
	duration       time.Duration
	connectTimeout time.Duration
	loginTimeout   time.Duration
	origin         string
	jsonFile       string
	quiet          bool
}

func newBenchCmd(s *streams, runF func(context.Context, *benchOptions) error) *cobra.Command {
	def := bench.Default()
	opts := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Open many WebSocket connections to gows nodes and report what they achieved",
		Long: `Open --conns WebSocket connections to one or more gows nodes (--url, repeatable), paced
at --rate per second, optionally log each in (--login, user ids u0, u1, ...), hold them for
--hold with heartbeats, optionally measure ping round trips (--echo) and the delivery of one
broadcast sent through the HTTP API (--broadcast with --server), then close them (RST by
default) and print a report. Progress goes to stderr, the report table to stdout, and the
same figures as JSON to --json.

Each connection binds a source address first (--source-ips; for loopback targets bench picks
127.0.0.2, 127.0.0.3, ... itself), because one address reaches one target through at most
one port range. Past the per-process open-file limit, bench runs itself as worker processes
(--workers, default: as many as the limit needs). Ctrl-C closes every connection and still
prints the report. The exit status is 1 when more than --max-failures connections failed.
docs/bench.md explains every figure.`,
		Example: `  gows bench --conns 10000 --rate 5000 --login --hold 30s
  gows bench --url ws://127.0.0.1:8089/acc --conns 19000 --login --server http://127.0.0.1:8080 --json run.json
  gows bench --url ws://127.0.0.1:8089/acc --url ws://127.0.0.1:8090/acc --conns 30000 \
      --source-ips 127.0.0.2-127.0.0.5 --login --broadcast --server http://127.0.0.1:8080
  gows bench merge machine1.json machine2.json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runBench(cmd.Context(), s, opts)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&opts.urls, "url", []string{"ws://127.0.0.1:8089/acc"}, "WebSocket endpoint; repeat for several nodes (connections alternate)")
	f.IntVarP(&opts.conns, "conns", "n", def.Conns, "connections to open")
	f.StringVar(&opts.sourceIPs, "source-ips", "", "local addresses to bind, ranges and lists: 127.0.0.2-127.0.0.40,127.0.1.1 (default: enough 127.0.0.x for loopback targets)")
	f.Float64Var(&opts.rate, "rate", def.RatePerSecond, "new connections per second, summed over workers; 0 means unpaced")
	f.BoolVar(&opts.login, "login", false, "log every connection in with a distinct user id")
	f.Uint32Var(&opts.appID, "app-id", def.AppID, "app id to log in to")
	f.StringVar(&opts.userPrefix, "user-prefix", def.UserPrefix, "user ids are this prefix and the connection number")
	f.DurationVar(&opts.hold, "hold", def.Hold, "how long to hold the connections once all are up (at least until the --echo round trips are done)")
	f.DurationVar(&opts.heartbeat, "heartbeat", def.HeartbeatInterval, "heartbeat interval per connection (a ping frame without --login); 0 sends none")
	f.IntVar(&opts.echo, "echo", 0, "measure ping round trips on this many sampled connections at the start of the hold (at most --conns)")
	f.IntVar(&opts.echoRounds, "echo-rounds", def.EchoRounds, "round trips per sampled connection")
	f.BoolVar(&opts.broadcast, "broadcast", false, "send one sendMessageAll (through every --server, or the first when they form a cluster) and measure its delivery; needs --login")
	f.StringArrayVar(&opts.servers, "server", nil, "HTTP API base URL (http://127.0.0.1:8080) whose /system/state is read before and at the peak (or when a run stopped early begins its close); repeatable")
	f.StringVar(&opts.serverToken, "server-token", "", "bearer token for the HTTP API, when the server requires one")
	f.StringVar(&opts.authSecret, "auth-secret", "", "the server's auth_secret: sign an HS256 login token for each connection (needs --login; default $GOWS_AUTH_SECRET)")
	f.IntVar(&opts.workers, "workers", 0, "worker processes; 0 means as many as the open-file limit requires (1: no extra process; at most --conns)")
	f.IntVar(&opts.loops, "loops", 0, "epoll loops per worker; 0 means the CPU count divided by the workers")
	f.IntVar(&opts.maxFailures, "max-failures", 0, "failed connections tolerated before the exit status is 1")
	f.StringVar(&opts.closeMode, "close", string(def.Close), "how to close: rst (no TIME_WAIT left behind) or graceful (close frames)")
	f.DurationVar(&opts.duration, "duration", 0, "stop the whole run after this long, whatever phase it is in; 0 means ramp + hold")
	f.DurationVar(&opts.connectTimeout, "connect-timeout", def.ConnectTimeout, "time limit for one connection's TCP connect and upgrade")
	f.DurationVar(&opts.loginTimeout, "login-timeout", def.LoginTimeout, "time limit for a login answer and for each echo round trip")
	f.StringVar(&opts.origin, "origin", "", "Origin header to send with every upgrade")
	f.StringVar(&opts.jsonFile, "json", "", "also write the report as JSON to this file")
	f.BoolVarP(&opts.quiet, "quiet", "q", false, "show no progress on stderr")
	completeValues(cmd, "close", "rst", "graceful")
	cmd.AddCommand(newBenchMergeCmd(s), newBenchPlotCmd(s), newBenchWorkerCmd(s))
	return cmd
}

// benchConfig turns the options into the bench package's Config.
func benchConfig(opts *benchOptions) (bench.Config, error) {
	cfg := bench.Default()
	cfg.URLs = opts.urls
	cfg.Conns = opts.conns
	if opts.sourceIPs != "" {
		ips, err := bench.ParseSourceIPs(opts.sourceIPs)
		if err != nil {
			return cfg, err
		}
		cfg.SourceIPs = ips
	}
	cfg.RatePerSecond = opts.rate
	cfg.Login = opts.login
	cfg.AppID = opts.appID
	cfg.UserPrefix = opts.userPrefix
	cfg.Hold = opts.hold
	cfg.HeartbeatInterval = opts.heartbeat
	cfg.EchoConns = opts.echo
	cfg.EchoRounds = opts.echoRounds
	cfg.Broadcast = opts.broadcast
	cfg.ServerURLs = opts.servers
	cfg.ServerToken = opts.serverToken
	cfg.AuthSecret = opts.authSecret
	if opts.login {
		cfg.AuthSecret = cmp.Or(cfg.AuthSecret, os.Getenv(tokenSecretEnv))
	}
	cfg.Workers = opts.workers
	cfg.LoopsPerWorker = opts.loops
	cfg.MaxFailures = opts.maxFailures
	cfg.Close = bench.CloseMode(opts.closeMode)
	cfg.Duration = opts.duration
	cfg.ConnectTimeout = opts.connectTimeout
	cfg.LoginTimeout = opts.loginTimeout
	cfg.Origin = opts.origin
	return cfg, nil
}

// runBench runs the bench until it ends by itself or SIGINT/SIGTERM stops it, then prints
// the report (and writes --json) in either case.
func runBench(ctx context.Context, s *streams, opts *benchOptions) error {
	cfg, err := benchConfig(opts)
	if err != nil {
		return withExitCode(exitUsage, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the gows executable for worker processes: %w", err)
	}
	cfg.WorkerCommand = []string{exe, "bench", "worker"}
	if !opts.quiet {
		cfg.Progress = s.err
		cfg.ProgressLive = isTerminal(s.err)
		if !cfg.ProgressLive {
			cfg.ProgressEvery = 5 * time.Second
		}
	}
	cfg.Logger = slog.New(slog.NewTextHandler(s.err, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := cfg.Validate(); err != nil {
		return withExitCode(exitUsage, fmt.Errorf("invalid bench settings: %w", err))
	}
	// Open --json before the run: a path that cannot be written must not cost a whole
	// load whose figures are then lost.
	var jsonOut *reportFile
	if opts.jsonFile != "" {
		if jsonOut, err = openReportFile(opts.jsonFile); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one kills bench (the workers follow it: they die
	// with their parent).
	defer context.AfterFunc(ctx, stop)()

	rep, runErr := bench.NewRunner(cfg).Run(ctx)
	if rep.Target == 0 { // nothing ran: a planning or start-up error
		if jsonOut != nil {
			jsonOut.discard()
		}
		if isBenchUsageError(runErr) {
			return withExitCode(exitUsage, fmt.Errorf("bench: %w", runErr))
		}
		return fmt.Errorf("bench: %w", runErr)
	}
	tableErr := rep.WriteTable(s.out)
	if jsonOut != nil {
		if err := jsonOut.write(rep); err != nil {
			return err
		}
	}
	if tableErr != nil {
		return fmt.Errorf("write report: %w", tableErr)
	}
	if runErr != nil {
		return fmt.Errorf("bench: %w", runErr)
	}
	if rep.Interrupted {
		return errors.New("bench: interrupted")
	}
	return nil
}

// isBenchUsageError reports whether a run failed before starting because of its
// command line: --source-ips that cannot reach or hold the targets, or a --workers count
// too small for --conns under the file limit. The user fixes these by changing flags, as
// for any other usage error (exit status 2).
func isBenchUsageError(err error) bool {
	for _, e := range []error{bench.ErrSourceFamily, bench.ErrSourceNotLocal, bench.ErrCapacity, bench.ErrTooFewWorkers} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// reportFile is a --json file, opened before the figures exist.
type reportFile struct {
	f       *os.File
	created bool // openReportFile created it: discard removes it
}

// openReportFile opens path for a JSON report, creating it if need be but leaving an
// existing file's content alone until write. A path that cannot be written is an error
// now (exit status 1, as for an unreadable serve --config), not after the work.
func openReportFile(path string) (*reportFile, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--json: cannot write the report file: %w", err)
	}
	return &reportFile{f: f, created: errors.Is(statErr, fs.ErrNotExist)}, nil
}

// write replaces the file's content with rep and closes the file.
func (rf *reportFile) write(rep bench.Report) error {
	err := rf.f.Truncate(0)
	if err == nil {
		err = rep.WriteJSON(rf.f)
	}
	if cerr := rf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write report %s: %w", rf.f.Name(), err)
	}
	return nil
}

// discard closes the file without writing, and removes it if openReportFile created it.
func (rf *reportFile) discard() {
	_ = rf.f.Close() // nothing was written
	if rf.created {
		_ = os.Remove(rf.f.Name()) // best effort: an empty file is all that is left otherwise
	}
}

// writeReportFile writes rep as JSON to path.
func writeReportFile(path string, rep bench.Report) error {
	rf, err := openReportFile(path)
	if err != nil {
		return err
	}
	return rf.write(rep)
}

// isTerminal reports whether w is a terminal (for the live progress line).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(f.Fd())
}

// benchMergeOptions is the parsed command line of `gows bench merge`.
type benchMergeOptions struct {
	files    []string
	jsonFile string
}

func newBenchMergeCmd(s *streams) *cobra.Command {
	opts := &benchMergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge FILE.json FILE.json...",
		Short: "Combine the --json reports of benches that ran at the same time",
		Long: `Combine the --json reports of benches that ran at the same time (from several client
machines against one cluster): counts, rates and client memory add up, latency percentiles
are recomputed from the merged histograms, and each server node is counted once.`,
		Example: `  gows bench merge client1.json client2.json --json all.json`,
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.files = args
			return runBenchMerge(s, opts)
		},
	}
	cmd.Flags().StringVar(&opts.jsonFile, "json", "", "also write the merged report as JSON to this file")
	return cmd
}

func runBenchMerge(s *streams, opts *benchMergeOptions) error {
	var reps []bench.Report
	for _, name := range opts.files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		rep, err := bench.ReadReport(f)
		_ = f.Close() // read-only
		if err != nil {
			return fmt.Errorf("merge %s: %w", name, err)
		}
		reps = append(reps, rep)
	}
	m, err := bench.Merge(reps...)
	if sr, ok := errors.AsType[*bench.SameRunError](err); ok {
		return fmt.Errorf("merge: %s and %s cover the same run (%s): its counts would be added twice",
			opts.files[sr.First], opts.files[sr.Second], sr.RunID)
	}
	if err != nil {
		return fmt.Errorf("merge: %w", err)
	}
	if err := m.WriteTable(s.out); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if opts.jsonFile != "" {
		return writeReportFile(opts.jsonFile, m)
	}
	return nil
}

// benchPlotOptions is the parsed command line of `gows bench plot`.
type benchPlotOptions struct {
	file  string
	out   string
	title string
}

func newBenchPlotCmd(s *streams) *cobra.Command {
	opts := &benchPlotOptions{}
	cmd := &cobra.Command{
		Use:   "plot FILE.json",
		Short: "Draw a --json report's timeline (connections and memory over time) as SVG",
		Example: `  gows bench plot run.json -o run.svg
  gows bench plot run.json --title "1M connections, 54 nodes" > run.svg`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(_ *cobra.Command, args []string) error {
			opts.file = args[0]
			return runBenchPlot(s, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.out, "output", "o", "", "write the SVG to this file instead of stdout")
	cmd.Flags().StringVar(&opts.title, "title", "", "title of the image (default: the report's target and urls)")
	return cmd
}

func runBenchPlot(s *streams, opts *benchPlotOptions) error {
	f, err := os.Open(opts.file)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	rep, err := bench.ReadReport(f)
	_ = f.Close() // read-only
	if err != nil {
		return fmt.Errorf("plot %s: %w", opts.file, err)
	}
	title := opts.title
	if title == "" {
		title = fmt.Sprintf("gows bench: %d connections, %d established, %d failed", rep.Target, rep.Established, rep.Failed)
	}
	w := s.out
	if opts.out != "" {
		out, err := os.Create(opts.out)
		if err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		defer out.Close() // closed again below to report write errors; a double close is harmless
		if err := bench.PlotSVG(out, rep, title); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
		return out.Close()
	}
	if err := bench.PlotSVG(w, rep, title); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}

// newBenchWorkerCmd is the hidden worker process that `gows bench` starts past the file
// limit: it reads its task from stdin and reports on stdout (bench.RunWorker).
func newBenchWorkerCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run as a bench worker process (started by gows bench)",
		Long: `Run as a bench worker process. gows bench starts these itself past the open-file
limit: the task arrives as a JSON line on stdin, followed by commands, and progress and the
result leave as JSON lines on stdout. It is not meant to be run by hand.`,
		Example: `  gows bench worker < task.jsonl   # what gows bench runs for each worker`,
		Hidden:  true,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The coordinator stops the worker through stdin; SIGTERM is a last resort.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM)
			defer stop()
			return bench.RunWorker(ctx, s.in, s.out)
		},
	}
}
