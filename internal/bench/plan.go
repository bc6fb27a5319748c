package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/gows-dev/gows/internal/netpoll"
)

// ErrCapacity is returned before anything starts when the source addresses cannot hold
// the requested connections.
var ErrCapacity = errors.New("not enough source addresses")

// ErrSourceFamily is returned before anything starts when a source address is IPv4 and
// a target IPv6, or the reverse: every connection between them would fail.
var ErrSourceFamily = errors.New("source address of the wrong family")

// ErrSourceNotLocal is returned before anything starts when a source address is not one
// of this machine's.
var ErrSourceNotLocal = errors.New("source address not on this machine")

// ErrTooFewWorkers is returned before anything starts when a forced worker count
// (Config.Workers) cannot hold the connections under the open-file limit.
var ErrTooFewWorkers = errors.New("too few workers")

// fdReserve is the number of descriptors a worker keeps for itself (epoll, eventfds,
// pipes, the Go runtime) below the file limit.
const fdReserve = 64

// plan is how a run is spread over worker processes.
type plan struct {
	targets []target
	sources []netip.Addr // every source address used; nil means no bind
	workers []workerSpec
	inProc  bool // the single worker runs in this process
}

// workerSpec is one worker's task: its share of the connections and the settings it
// needs. It travels to a worker process as the first JSON line on its stdin.
type workerSpec struct {
	Index   int          `json:"index"`
	Workers int          `json:"workers"`  // how many workers the run has
	FirstID uint64       `json:"first_id"` // global number of the worker's first connection
	Conns   int          `json:"conns"`
	Rate    float64      `json:"rate"`
	Loops   int          `json:"loops"`
	Echo    int          `json:"echo"` // sampled connections for the echo phase
	Targets []target     `json:"targets"`
	Sources []netip.Addr `json:"sources"`
	RunID   string       `json:"run_id"`
	Cfg     Config       `json:"cfg"` // timeouts, login, close mode, ...
}

// makePlan resolves the targets, picks source addresses and workers, and checks that
// every (source, target) pair stays within the port range.
func makePlan(ctx context.Context, cfg Config, runID string) (plan, error) {
	var p plan
	prefer6 := len(cfg.SourceIPs) > 0 && !slices.ContainsFunc(cfg.SourceIPs, func(a netip.Addr) bool { return a.Unmap().Is4() })
	for _, raw := range cfg.URLs {
		t, err := resolveTarget(ctx, raw, prefer6)
		if err != nil {
			return plan{}, err
		}
		p.targets = append(p.targets, t)
	}
	ports := cfg.PortsPerSourceIP
	if ports == 0 {
		ports = localPortRange() * 15 / 16
	}
	fileLimit := cfg.FileLimit
	if fileLimit == 0 {
		lim, err := netpoll.FileLimit()
		if err != nil {
			return plan{}, err
		}
		fileLimit = int(min(lim, 1<<30))
	}
	perWorker := fileLimit - fdReserve
	if perWorker < 1 {
		return plan{}, fmt.Errorf("file limit %d leaves no room for connections", fileLimit)
	}
	nw := cfg.Workers
	if nw == 0 {
		nw = (cfg.Conns + perWorker - 1) / perWorker
	}
	if per := (cfg.Conns + nw - 1) / nw; per > perWorker {
		return plan{}, fmt.Errorf("%w: %s cannot hold %d connections under a file limit of %d: use --workers %d or more",
			ErrTooFewWorkers, plural(nw, "worker"), cfg.Conns, fileLimit, (cfg.Conns+perWorker-1)/perWorker)
	}
	if nw > 1 && len(cfg.WorkerCommand) == 0 {
		return plan{}, fmt.Errorf("%d connections need %d worker processes (file limit %d) but no worker command is set", cfg.Conns, nw, fileLimit)
	}
	p.inProc = nw == 1

	p.sources = cfg.SourceIPs
	if len(p.sources) == 0 && allLoopback(p.targets) {
		// Fill each (source, target) pair to a quarter of the port range at most:
		// connect(2) tries even ports first and slows down sharply once they are
		// taken (measured here: 181 µs of CPU per connection at half the range from
		// one source, 77 µs spread over eight).
		per := max(ports/4, 1) * distinctAddrs(p.targets)
		need := max((cfg.Conns+per-1)/per, min(nw, 250))
		if need > 253 {
			return plan{}, fmt.Errorf("%w: %d connections need %d source addresses, more than 127.0.0.2-127.0.0.254: give --source-ips",
				ErrCapacity, cfg.Conns, need)
		}
		for i := range need {
			p.sources = append(p.sources, netip.AddrFrom4([4]byte{127, 0, 0, byte(2 + i)}))
		}
	}

	for _, src := range p.sources {
		for _, t := range p.targets {
			if src.Unmap().Is4() != t.Addr.Addr().Is4() {
				return plan{}, fmt.Errorf("%w: source address %v cannot reach %s (%v): give --source-ips of the same family",
					ErrSourceFamily, src, t.URL, t.Addr.Addr())
			}
		}
	}

	loops := cfg.LoopsPerWorker
	if loops == 0 {
		loops = max(1, runtime.NumCPU()/nw)
	}
	var firstID uint64
	for w := range nw {
		n := cfg.Conns / nw
		if w < cfg.Conns%nw {
			n++
		}
		spec := workerSpec{
			Index:   w,
			Workers: nw,
			FirstID: firstID,
			Conns:   n,
			Rate:    cfg.RatePerSecond * float64(n) / float64(cfg.Conns),
			Loops:   loops,
			Targets: p.targets,
			Sources: sliceFor(p.sources, w, nw),
			Echo:    cfg.EchoConns * n / cfg.Conns,
			RunID:   runID,
			Cfg:     cfg,
		}
		spec.Cfg.SourceIPs, spec.Cfg.URLs, spec.Cfg.ServerURLs = nil, nil, nil
		p.workers = append(p.workers, spec)
		firstID += uint64(n)
	}
	assigned := 0
	for _, w := range p.workers {
		assigned += w.Echo
	}
	p.workers[0].Echo = min(p.workers[0].Echo+cfg.EchoConns-assigned, p.workers[0].Conns) // rounding remainder
	if err := checkCapacity(p, ports); err != nil {
		return plan{}, err
	}
	return p, nil
}

// sliceFor gives worker w of n its own contiguous slice of the addresses, or one shared
// address when there are fewer addresses than workers.
func sliceFor(all []netip.Addr, w, n int) []netip.Addr {
	if len(all) == 0 {
		return nil
	}
	if len(all) < n {
		return []netip.Addr{all[w%len(all)]}
	}
	lo, hi := w*len(all)/n, (w+1)*len(all)/n
	return all[lo:hi]
}

// distinctAddrs counts the targets' distinct addresses: URLs that differ only in their
// path (or are repeated) share one port range per source address.
func distinctAddrs(ts []target) int {
	seen := map[netip.AddrPort]bool{}
	for _, t := range ts {
		seen[t.Addr] = true
	}
	return len(seen)
}

// checkCapacity verifies that no (source, target address) pair needs more than ports
// connections. A worker spreads its connections round-robin over targets, then over its
// sources; targets with the same address share the pair's ports.
func checkCapacity(p plan, ports int) error {
	type pair struct {
		src netip.Addr
		dst netip.AddrPort
	}
	load := map[pair]int{}
	worst, worstPair := 0, pair{}
	for _, w := range p.workers {
		srcs := w.Sources
		if len(srcs) == 0 {
			srcs = []netip.Addr{{}}
		}
		perPair := (w.Conns + len(p.targets)*len(srcs) - 1) / (len(p.targets) * len(srcs))
		for _, s := range srcs {
			for _, t := range p.targets {
				k := pair{s, t.Addr}
				load[k] += perPair
				if load[k] > worst {
					worst, worstPair = load[k], k
				}
			}
		}
	}
	if worst > ports {
		src := "the default source address"
		if worstPair.src.IsValid() {
			src = worstPair.src.String()
		}
		need := 0
		for _, w := range p.workers {
			need += w.Conns
		}
		return fmt.Errorf("%w: %s would need %d connections to %s but one address holds about %d per target "+
			"(ip_local_port_range); give --source-ips with at least %d addresses, add --url targets, or widen the port range (scripts/sysctl.sh)",
			ErrCapacity, src, worst, worstPair.dst, ports, (need+ports*distinctAddrs(p.targets)-1)/(ports*distinctAddrs(p.targets)))
	}
	return nil
}

// resolveTarget parses a ws:// URL and resolves its host to one address: an IPv4 one
// when it has both, or an IPv6 one with prefer6 (the source addresses are all IPv6), so
// that "localhost" listed as ::1 first does not defeat IPv4 source addresses.
func resolveTarget(ctx context.Context, raw string, prefer6 bool) (target, error) {
	u, err := parseTarget(raw)
	if err != nil {
		return target{}, err
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return target{}, fmt.Errorf("url %q: bad port", raw)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		ips, lerr := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
		if lerr != nil || len(ips) == 0 {
			return target{}, fmt.Errorf("url %q: resolve host: %w", raw, lerr)
		}
		ip = pickAddr(ips, prefer6)
	}
	path := u.RequestURI()
	return target{URL: raw, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(pn)), Host: u.Host, Path: path}, nil
}

// pickAddr returns the first of ips (not empty) in the preferred family, else the first.
func pickAddr(ips []netip.Addr, prefer6 bool) netip.Addr {
	for _, ip := range ips {
		if ip.Unmap().Is4() != prefer6 {
			return ip
		}
	}
	return ips[0]
}

func allLoopback(ts []target) bool {
	for _, t := range ts {
		if !t.Addr.Addr().IsLoopback() || !t.Addr.Addr().Is4() {
			return false
		}
	}
	return true
}

// localPortRange returns the size of the kernel's ephemeral port range, or the Linux
// default's (28,232) when it cannot be read.
func localPortRange() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28232
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}
