package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/gows-dev/gows/internal/lograte"
)

// RedisConfig configures the Redis broker. The zero value is not usable; NewRedis
// checks it.
type RedisConfig struct {
	// NodeID is this node's id (see ValidNodeID).
	NodeID string
	// URL is a redis:// or rediss:// URL of one Redis server; "" to use Addrs.
	URL string
	// Addrs are host:port seeds: Sentinels when MasterName is set, else the nodes of a
	// Redis Cluster (two or more) or one Redis server (exactly one).
	Addrs []string
	// MasterName is the Sentinel master name; "" for no Sentinel.
	MasterName string
	// Password authenticates to the servers given by Addrs (a URL carries its own).
	Password string
	// Prefix starts every key; "" means "gows". Several clusters (or tests) can share
	// one Redis with different prefixes.
	Prefix string
	// Timeout is the deadline of every Redis call. A stalled Redis costs a caller at
	// most this long, and after the first failure callers fail at once until Redis
	// answers again.
	Timeout time.Duration
	// NodeTTL is the registry lease; it is renewed every NodeTTL/3.
	NodeTTL time.Duration
	// DedupWindow is how long a message id is remembered.
	DedupWindow time.Duration
	// ConnsPerUser is the most sessions of one user presence keeps, cluster-wide: a
	// login past it drops the oldest records and reports their sessions to
	// Hooks.OnTakeover. 0 or 1: one (a login replaces the user's record); negative: no
	// limit.
	ConnsPerUser int
	// Logger receives the broker's logs; nil discards them.
	Logger *slog.Logger
}

// Tuning of the presence writer.
const (
	// queueLen bounds the operations waiting for the writer; past it operations are
	// dropped and the node's presence is rewritten from the hub. The buffer is allocated
	// up front (about 80 bytes per slot), so it is sized for bursts, not for the user
	// count: the writer drains 512 operations per pipeline round trip.
	queueLen = 1 << 13
	// batchMax is the most operations in one pipeline.
	batchMax = 512
	// flushGap is the least time between two presence pipelines: an operation queued
	// sooner than that after the last one waits for the rest of the gap, collecting
	// others. An idle node writes a login at once; a busy one writes every flushGap,
	// many operations at a time, instead of a pipeline (and a Redis script call) for
	// almost every login when they come a few milliseconds apart.
	flushGap = 50 * time.Millisecond
	// downProbe is how often the registry is retried while Redis is unreachable.
	downProbe = 500 * time.Millisecond
)

// RedisStats are the broker's counters, for metrics.
type RedisStats struct {
	Up        bool   // the last Redis call succeeded
	Nodes     int    // live nodes known, this one included (while down: those of the last registry read)
	Errors    uint64 // failed Redis calls
	Outages   uint64 // times Redis became unreachable
	Writes    uint64 // presence operations written
	Batches   uint64 // pipelines that wrote them
	Dropped   uint64 // presence operations dropped (queue full or Redis down), repaired by a resync
	Resyncs   uint64 // full rewrites of this node's presence
	Takeovers uint64 // logins here that replaced a session on another node
	Collected uint64 // dead nodes removed from the registry by this node
}

type presenceOp struct {
	login bool
	u     User
	owner string // for a logout, the prefix the record must have; "" means presenceOwner(u)
	// local is the node's own view of the change: a login's first, a logout's last. It
	// decides OnOnline or OnOffline when the store cannot.
	local  bool
	synced chan struct{} // a Sync marker, not an operation: closed once the ops before it are done
}

// args are the op's presenceScript arguments; limit is the login's (see limit).
func (op presenceOp) args(limit string) []any {
	if op.login {
		return []any{"in", op.u.ID, presenceValue(op.u), limit}
	}
	return []any{"out", op.u.ID, op.logoutOwner(), ""}
}

// logoutOwner is the prefix a logout needs the record to have.
func (op presenceOp) logoutOwner() string {
	if op.owner != "" {
		return op.owner
	}
	return presenceOwner(op.u)
}

type liveNode struct {
	Node
	leaseMs int64 // lease expiry, Redis clock
}

// Redis is the cluster Broker on Redis (a single server, Sentinel or Redis Cluster). It
// is safe for concurrent use. Create it with NewRedis and call Run once.
type Redis struct {
	cfg   RedisConfig
	hooks Hooks
	log   *slog.Logger
	rdb   redis.UniversalClient
	k     keys
	local *Dedup

	ops  chan presenceOp // to the writer; never closed (many senders)
	wake chan struct{}   // asks the writer to resync; buffered 1
	soon chan struct{}   // asks the heartbeat loop to renew the lease soon; buffered 1
	dead chan string     // dead nodes for the collector; buffered

	stale      atomic.Bool // this node's presence must be rewritten
	registered atomic.Bool // the first lease was taken
	duplicate  atomic.Bool // the last renewal found another process's info under this node's id

	mu       sync.Mutex // guards live, readAt, offsetMs, peerIDs and draining
	live     map[string]liveNode
	readAt   time.Time // local time of the last registry read
	offsetMs int64     // Redis clock minus local clock at the last registry read
	peerIDs  string
	draining bool

	healthMu  sync.Mutex // guards down and downSince
	down      bool
	downSince time.Time

	errs, outages, writes, batches, dropped, resyncs, takeovers, collected atomic.Uint64

	replies lograte.Limiter // paces the lines logging error replies (see logReply)
}

// NewRedis returns a broker for cfg. It does not connect: Redis may be down when the
// node starts, and the node registers itself once Redis answers.
func NewRedis(cfg RedisConfig, hooks Hooks) (*Redis, error) {
	if !ValidNodeID(cfg.NodeID) {
		return nil, fmt.Errorf("node id %q: want 1..128 characters without spaces, '|', '{' or '}'", cfg.NodeID)
	}
	if cfg.Timeout <= 0 || cfg.NodeTTL <= 0 || cfg.DedupWindow <= 0 {
		return nil, errors.New("redis broker: Timeout, NodeTTL and DedupWindow must be positive")
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "gows"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Redis{
		cfg:   cfg,
		hooks: hooks.withDefaults(cfg.NodeID),
		log:   log,
		k:     keys{cfg.Prefix},
		local: NewDedup(cfg.DedupWindow),
		ops:   make(chan presenceOp, queueLen),
		wake:  make(chan struct{}, 1),
		soon:  make(chan struct{}, 1),
		dead:  make(chan string, 16),
		live:  make(map[string]liveNode),
	}
	r.replies.Every = time.Minute
	rdb, err := newClient(cfg, r.renewSoon)
	if err != nil {
		return nil, err
	}
	r.rdb = rdb
	return r, nil
}

// newClient returns the Redis client; onConnect is called (and must not block) for each
// connection it makes.
func newClient(cfg RedisConfig, onConnect func()) (redis.UniversalClient, error) {
	// A copy without spare capacity: a cluster client appends the nodes it learns to its
	// Addrs, which must not write into the caller's array (shared by every broker made
	// from the same configuration).
	addrs := slices.Clip(slices.Clone(cfg.Addrs))
	opts := &redis.UniversalOptions{Addrs: addrs, MasterName: cfg.MasterName, Password: cfg.Password}
	if cfg.URL != "" {
		o, err := redis.ParseURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		opts = &redis.UniversalOptions{Addrs: []string{o.Addr}, DB: o.DB, Username: o.Username,
			Password: o.Password, TLSConfig: o.TLSConfig}
	}
	if len(opts.Addrs) == 0 {
		return nil, errors.New("redis: give a URL or at least one address")
	}
	opts.ClientName = clientName(cfg.NodeID)
	// Every call is bounded by its context (ContextTimeoutEnabled) and by these, so a
	// stalled or paused Redis never holds a caller longer than Timeout.
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.PoolTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	opts.DialerRetries = 1 // one dial per call: a down Redis must fail fast
	opts.MaxRetries = -1   // no retries: the deadline is the caller's budget, and the writer repairs
	// A new connection may be to a Redis that restarted empty (no persistence) between
	// two calls, without any call failing: this node's registration and its users'
	// presence are gone, and the next renewal, up to NodeTTL/3 away, would find out.
	// Renewing soon finds out at once (and costs one renewal per reconnection).
	opts.OnConnect = func(context.Context, *redis.Conn) error {
		onConnect()
		return nil
	}
	return redis.NewUniversalClient(opts), nil
}

// SetRedisLogger sends go-redis's own log lines (pool and reconnect chatter) to log at
// debug level; the broker reports outages itself, once per incident. go-redis has one
// logger per process, so only main (and test mains) call this.
func SetRedisLogger(log *slog.Logger) { redis.SetLogger(redisLogger{log}) }

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis", "msg", fmt.Sprintf(format, v...))
}

// Close releases the Redis client of a broker whose Run was never called; Run closes it
// itself.
func (r *Redis) Close() error { return r.rdb.Close() }

// limit is the presenceScript limit of a login: "1" for one session per user, "0" for
// none.
func (r *Redis) limit() string {
	switch n := r.cfg.ConnsPerUser; {
	case n == 0:
		return "1"
	case n < 0:
		return "0"
	default:
		return strconv.Itoa(n)
	}
}

// several reports whether a user may have more than one session.
func (r *Redis) several() bool { return r.cfg.ConnsPerUser != 0 && r.cfg.ConnsPerUser != 1 }

// keys builds the key names; see the package doc for the layout.
type keys struct{ p string }

func (k keys) live() string        { return k.p + ":{nodes}:live" }
func (k keys) info() string        { return k.p + ":{nodes}:info" }
func (k keys) gc(id string) string { return k.p + ":{nodes}:gc:" + id }
func (k keys) rewrite(id string) string {
	return k.p + ":{nodes}:rewrite:" + id
}
func (k keys) appUsers(a uint32) string {
	return k.p + ":{a" + strconv.FormatUint(uint64(a), 10) + "}:users"
}
func (k keys) appIndex(a uint32) string {
	return k.p + ":{a" + strconv.FormatUint(uint64(a), 10) + "}:index"
}
func (k keys) nodeUsers(id string) string {
	return k.p + ":{n" + id + "}:users"
}
func (k keys) dedup(a uint32, id string) string {
	return k.p + ":dedup:" + strconv.FormatUint(uint64(a), 10) + ":" + id
}

// member is a user's entry in its node's set: "app:user".
func member(app uint32, user string) string { return strconv.FormatUint(uint64(app), 10) + ":" + user }

func parseMember(m string) (uint32, string, bool) {
	a, u, ok := strings.Cut(m, ":")
	app, err := strconv.ParseUint(a, 10, 32)
	return uint32(app), u, ok && err == nil && u != ""
}

// ---- health ----

// fail records a failed call. Only transport failures (timeouts, refused or broken
// connections) mark Redis as down; an error reply means Redis is up. A caller's own
// cancellation is not Redis's fault and is not counted.
func (r *Redis) fail(parent context.Context, err error) {
	if parent.Err() != nil {
		return
	}
	r.errs.Add(1)
	var reply redis.Error
	if errors.As(err, &reply) && !errors.Is(err, context.DeadlineExceeded) {
		r.logReply(err)
		return
	}
	r.healthMu.Lock()
	first := !r.down
	if first {
		r.down, r.downSince = true, time.Now()
	}
	r.healthMu.Unlock()
	if first {
		r.outages.Add(1)
		r.stale.Store(true)
		r.renewSoon() // the renewal probes Redis every downProbe from now, not from NodeTTL/3
		r.log.Warn("redis unavailable: cluster-wide operations fail until it answers; local delivery continues", "err", err)
	}
}

// logReply logs an error reply (Redis is up but refused a command: out of memory, read
// only, a script error): the first at once, then at most one line a minute with the
// count since the last line. Each failed call is counted in errs either way.
func (r *Redis) logReply(err error) {
	if n, ok := r.replies.Note(); ok {
		r.log.Warn("redis refused a command; presence writes that failed are repaired by the next rewrite", "err", err, "refusals", n)
	}
}

// recovered records a successful call and reports whether Redis was down before it.
func (r *Redis) recovered() bool {
	r.healthMu.Lock()
	was, since := r.down, r.downSince
	r.down = false
	r.healthMu.Unlock()
	if was {
		r.log.Info("redis available again", "down_for", time.Since(since).Round(time.Millisecond))
	}
	return was
}

func (r *Redis) isDown() bool {
	r.healthMu.Lock()
	defer r.healthMu.Unlock()
	return r.down
}

// unavailable wraps err as ErrUnavailable.
func unavailable(op string, err error) error {
	if err == nil {
		return fmt.Errorf("%s: %w", op, ErrUnavailable)
	}
	return fmt.Errorf("%s: %w: %w", op, ErrUnavailable, err)
}

// ---- Run ----

// Run renews the lease, writes presence and removes dead nodes until ctx is cancelled;
// then it removes this node and its users from Redis and closes the client.
func (r *Redis) Run(ctx context.Context) error {
	var g errgroup.Group
	g.Go(func() error { return r.heartbeatLoop(ctx) })
	g.Go(func() error { return r.writerLoop(ctx) })
	g.Go(func() error { return r.collectLoop(ctx) })
	err := g.Wait()
	// Deregister with a budget of its own: the node's own cleanup walks its user set.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(r.cfg.NodeTTL, 4*r.cfg.Timeout))
	defer cancel()
	if derr := r.deregister(dctx); derr != nil {
		// Not fatal: the lease runs out and another node removes what is left.
		r.log.Warn("deregister node", "node_id", r.cfg.NodeID, "err", derr)
	} else {
		r.log.Info("node deregistered", "node_id", r.cfg.NodeID)
	}
	return errors.Join(err, r.rdb.Close())
}

// renewSoon asks the heartbeat loop to renew the lease within downProbe: when Redis has
// just failed, so that it is probed (and found again) that often rather than at the next
// renewal, and for every new Redis connection (see newClient). It never blocks.
func (r *Redis) renewSoon() {
	select {
	case r.soon <- struct{}{}:
	default:
	}
}

func (r *Redis) heartbeatLoop(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	var last, due time.Time // of the last renewal, and when the next is due
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.soon:
			// At most one early renewal per downProbe: a burst of new connections (the
			// pool growing under load) costs one renewal, not one each.
			if early := last.Add(downProbe); early.Before(due) {
				due = early
				t.Reset(time.Until(due))
			}
			continue
		case <-t.C:
		}
		// An outage is logged once by fail; any other failure (an error reply, a reply
		// of the wrong shape, node info that does not encode) would otherwise be seen
		// nowhere but in a counter while the lease runs out. It is retried below.
		if err := r.heartbeat(ctx); err != nil && !r.isDown() && ctx.Err() == nil {
			r.log.Warn("node lease renewal failed; the node leaves the cluster if this lasts past node_ttl", "node_id", r.cfg.NodeID, "err", err)
		}
		last = time.Now()
		next := r.cfg.NodeTTL / 3
		if r.isDown() {
			next = min(next, downProbe)
		}
		due = last.Add(next)
		t.Reset(next)
	}
}

// heartbeat renews the lease, refreshes the registry view, hands dead nodes to the
// collector and wakes the writer when presence must be rewritten.
func (r *Redis) heartbeat(ctx context.Context) error {
	self, info, err := r.selfInfo()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	res, err := r.eval(cctx, heartbeatScript, []string{r.k.live(), r.k.info(), r.k.rewrite(r.cfg.NodeID)},
		r.cfg.NodeID, r.cfg.NodeTTL.Milliseconds(), string(info))
	if err != nil {
		r.fail(ctx, err)
		return unavailable("renew lease", err)
	}
	if r.recovered() {
		r.stale.Store(true)
		// A restarted Redis has no scripts; pipelines would load them on demand too.
		_ = r.loadScripts(cctx)
	}
	var prev string
	if arr, ok := res.([]any); ok && len(arr) == 6 {
		prev, _ = arr[5].(string)
		res = arr[:5]
	}
	added, dead, err := r.applyRegistry(res, time.Now(), true)
	if err != nil {
		return err
	}
	r.checkDuplicate(self, prev)
	switch {
	case !r.registered.Swap(true):
		// First lease: entries left by an earlier process with this node id are removed.
		r.stale.Store(true)
		r.log.Info("node registered", "node_id", r.cfg.NodeID, "grpc_addr", self.GRPCAddr, "ttl", r.cfg.NodeTTL)
	case added == 1:
		// The lease had expired and the node was removed: rewrite everything.
		r.stale.Store(true)
		r.log.Warn("node lease was lost; registering again", "node_id", r.cfg.NodeID)
	case added == 2:
		// A cleanup of this node, started while it seemed dead, removed its users.
		r.stale.Store(true)
		r.log.Warn("presence removed by a cleanup of this node; writing it again", "node_id", r.cfg.NodeID)
	}
	for _, id := range dead {
		if id == r.cfg.NodeID {
			continue
		}
		select {
		case r.dead <- id:
		default: // the collector is busy; the next renewal reports the node again
		}
	}
	if r.stale.Load() {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// checkDuplicate reports, once per incident, a renewal that replaced the registry info
// of another process with this node's id (prev, the info before it): two live nodes
// with one id overwrite each other's lease and presence, so pushes to the users of one
// of them answer "not online" and each lists only one node. At the first renewal the
// info may be a crashed predecessor's, which is no fault.
func (r *Redis) checkDuplicate(self Node, prev string) {
	var other Node
	if !r.registered.Load() || prev == "" || json.Unmarshal([]byte(prev), &other) != nil {
		return
	}
	if other.StartedMs == self.StartedMs && other.GRPCAddr == self.GRPCAddr {
		if r.duplicate.Swap(false) {
			r.log.Info("node id no longer used by another node", "node_id", r.cfg.NodeID)
		}
		return
	}
	if !r.duplicate.Swap(true) {
		r.log.Error("another node uses this node id: give every node its own node_id", "node_id", r.cfg.NodeID,
			"grpc_addr", self.GRPCAddr, "other_grpc_addr", other.GRPCAddr, "other_http_addr", other.HTTPAddr)
	}
}

// selfInfo describes this node for the registry.
func (r *Redis) selfInfo() (Node, string, error) {
	self := r.hooks.Self()
	self.ID = r.cfg.NodeID
	r.mu.Lock()
	self.Draining = self.Draining || r.draining
	r.mu.Unlock()
	info, err := json.Marshal(self)
	if err != nil {
		return self, "", fmt.Errorf("encode node info: %w", err)
	}
	return self, string(info), nil
}

// applyRegistry stores a registry read ({added, now, live, infos, dead}) in the cache
// and returns added as the heartbeat script answered it.
// Only the heartbeat loop passes notify, so that OnPeers is called from one goroutine,
// in order.
func (r *Redis) applyRegistry(res any, local time.Time, notify bool) (added int64, dead []string, err error) {
	arr, ok := res.([]any)
	if !ok || len(arr) != 5 {
		return 0, nil, fmt.Errorf("registry read: unexpected reply %T", res)
	}
	a, _ := arr[0].(int64)
	now, _ := arr[1].(int64)
	liveArr, _ := arr[2].([]any)
	infos, _ := arr[3].([]any)
	deadArr, _ := arr[4].([]any)
	live := make(map[string]liveNode, len(liveArr)/2)
	for i := 0; i+1 < len(liveArr); i += 2 {
		id, _ := liveArr[i].(string)
		lease, _ := strconv.ParseInt(fmt.Sprint(liveArr[i+1]), 10, 64)
		n := Node{ID: id}
		if j := i / 2; j < len(infos) {
			if s, ok := infos[j].(string); ok {
				if err := json.Unmarshal([]byte(s), &n); err != nil {
					r.log.Warn("malformed node info in redis", "node_id", id, "err", err)
				}
				n.ID = id
			}
		}
		n.HeartbeatMs = lease - r.cfg.NodeTTL.Milliseconds()
		live[id] = liveNode{Node: n, leaseMs: lease}
	}
	for _, d := range deadArr {
		if id, ok := d.(string); ok {
			dead = append(dead, id)
		}
	}
	r.mu.Lock()
	r.live = live
	r.readAt = local
	r.offsetMs = now - local.UnixMilli()
	var peers []Node
	changed := false
	if notify {
		peers = r.peersLocked(local, false) // Redis just answered
		ids := make([]string, len(peers))
		for i, p := range peers {
			ids[i] = p.ID + "@" + p.GRPCAddr
		}
		key := strings.Join(ids, ",")
		changed = key != r.peerIDs
		r.peerIDs = key
	}
	r.mu.Unlock()
	if changed {
		r.hooks.OnPeers(peers)
	}
	return a, dead, nil
}

// peersLocked returns the live nodes other than this one, by id. While Redis is down
// (down) the leases cannot be renewed nor read, so it returns every node of the last
// registry read: a peer that has died since fails its call within the RPC deadline,
// while one left out would silently miss every broadcast of a long outage. r.mu must be
// held.
func (r *Redis) peersLocked(now time.Time, down bool) []Node {
	redisNow := now.UnixMilli() + r.offsetMs
	var out []Node
	for _, n := range r.live {
		if n.ID != r.cfg.NodeID && (down || n.leaseMs >= redisNow) {
			out = append(out, n.Node)
		}
	}
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// liveNode returns node id from the cache if its lease is current.
func (r *Redis) liveNode(id string, now time.Time) (Node, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.live[id]
	if ok && n.leaseMs < now.UnixMilli()+r.offsetMs {
		ok = false
	}
	return n.Node, ok
}

// ---- Registry ----

// Peers returns the live nodes other than this one, as of the last registry read (while
// Redis is down: all the nodes of that read, see peersLocked).
func (r *Redis) Peers() []Node {
	down := r.isDown() // before r.mu: the two locks are never held together
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.peersLocked(time.Now(), down)
}

// FreshPeers returns the live peers, re-reading the registry first when the last read
// is older than maxAge. Without it a node that joined (or restarted) is unknown to the
// others until their next renewal, up to node_ttl/3 later, and a broadcast from one of
// them would miss its users. When Redis cannot answer, the cached view is returned.
func (r *Redis) FreshPeers(ctx context.Context, maxAge time.Duration) []Node {
	r.mu.Lock()
	stale := time.Since(r.readAt) > maxAge
	r.mu.Unlock()
	if stale && !r.isDown() {
		_ = r.refresh(ctx) // a failure is recorded by fail; the cached view stands
	}
	return r.Peers()
}

// Nodes reads the live nodes from Redis.
func (r *Redis) Nodes(ctx context.Context) ([]Node, error) {
	if r.isDown() {
		return nil, unavailable("list nodes", nil)
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	r.mu.Lock()
	out := make([]Node, 0, len(r.live))
	for _, n := range r.live {
		out = append(out, n.Node)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// refresh reads the registry into the cache.
func (r *Redis) refresh(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	res, err := r.eval(cctx, nodesScript, []string{r.k.live(), r.k.info()})
	if err != nil {
		r.fail(ctx, err)
		return unavailable("read node registry", err)
	}
	_, _, err = r.applyRegistry(res, time.Now(), false)
	return err
}

// Drain marks this node as draining in the registry.
func (r *Redis) Drain(ctx context.Context) error {
	r.mu.Lock()
	r.draining = true
	r.mu.Unlock()
	if r.isDown() {
		return unavailable("mark node draining", nil)
	}
	_, info, err := r.selfInfo()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if err := r.rdb.HSet(cctx, r.k.info(), r.cfg.NodeID, info).Err(); err != nil {
		r.fail(ctx, err)
		return unavailable("mark node draining", err)
	}
	return nil
}

// deregister removes this node's users and its registry entry.
func (r *Redis) deregister(ctx context.Context) error {
	if _, err := r.removeNodeUsers(ctx, r.cfg.NodeID, nil); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if _, err := r.forget(cctx, r.cfg.NodeID, true); err != nil {
		return fmt.Errorf("remove node %s from registry: %w", r.cfg.NodeID, err)
	}
	return nil
}

// collectLoop removes dead nodes' users and registry entries.
func (r *Redis) collectLoop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-r.dead:
			if err := r.collect(ctx, id); err != nil && ctx.Err() == nil {
				r.log.Warn("remove dead node", "node_id", id, "err", err)
			}
		}
	}
}

// collect removes a dead node, unless it is live again or another node is already
// doing it.
func (r *Redis) collect(ctx context.Context, id string) error {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	got, err := r.eval(cctx, claimDeadScript, []string{r.k.live(), r.k.gc(id)}, id, r.cfg.NodeID, r.cfg.NodeTTL.Milliseconds())
	cancel()
	if err != nil {
		r.fail(ctx, err)
		return fmt.Errorf("lock dead node %s: %w", id, err)
	}
	if got != int64(1) {
		return nil
	}
	return r.removeDead(ctx, id)
}

// removeDead removes the users and the registry entry of node id, which collect has
// claimed. If the node came back meanwhile (same id, a restarted process), some of the
// entries removed may be its new ones: it is flagged to write its presence again.
func (r *Redis) removeDead(ctx context.Context, id string) error {
	n, err := r.removeNodeUsers(ctx, id, nil)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	removed, err := r.forget(cctx, id, false)
	if err != nil {
		r.fail(ctx, err)
		return fmt.Errorf("remove node %s from registry: %w", id, err)
	}
	if !removed {
		r.log.Info("node came back during its cleanup; it will write its users again", "node_id", id)
		return nil
	}
	r.collected.Add(1)
	r.log.Info("dead node removed from the cluster", "node_id", id, "users_removed", n)
	return nil
}

// forget removes node id from the registry: always with force, else only if its lease
// has expired (when it has not, the node is flagged to rewrite its presence). It
// reports whether it removed the node.
func (r *Redis) forget(ctx context.Context, id string, force bool) (bool, error) {
	f := "0"
	if force {
		f = "1"
	}
	res, err := r.eval(ctx, forgetNodeScript, []string{r.k.live(), r.k.info(), r.k.rewrite(id)},
		id, f, 2*r.cfg.NodeTTL.Milliseconds())
	return res == int64(1), err
}

// removeNodeUsers removes the presence entries that node id recorded, except the users
// in keep, and returns how many it removed. Entries that another node has since
// overwritten are left alone.
func (r *Redis) removeNodeUsers(ctx context.Context, id string, keep map[dedupKey]bool) (int, error) {
	set := r.k.nodeUsers(id)
	owner := id + "|"
	removed := 0
	var cursor uint64
	for {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		members, next, err := r.rdb.SScan(cctx, set, cursor, "", batchMax).Result()
		cancel()
		if err != nil {
			r.fail(ctx, err)
			return removed, fmt.Errorf("scan users of node %s: %w", id, err)
		}
		var drop []string
		for _, m := range members {
			app, user, ok := parseMember(m)
			if !ok || !keep[dedupKey{app, user}] {
				drop = append(drop, m)
			}
		}
		if len(drop) > 0 {
			cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
			_, err := r.pipe(cctx, func(p redis.Pipeliner) {
				ops := make([]presenceOp, 0, len(drop))
				for _, m := range drop {
					if app, user, ok := parseMember(m); ok {
						ops = append(ops, presenceOp{u: User{App: app, ID: user}, owner: owner})
					}
				}
				r.queueScripts(cctx, p, ops)
				p.SRem(cctx, set, toAny(drop)...)
			})
			cancel()
			if err != nil {
				r.fail(ctx, err)
				return removed, fmt.Errorf("remove users of node %s: %w", id, err)
			}
			removed += len(drop)
		}
		cursor = next
		if cursor == 0 {
			return removed, nil
		}
	}
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// ---- Presence ----

// Login queues u's record. If the queue is full the operation is dropped and the
// node's presence is rewritten later.
func (r *Redis) Login(u User, first bool) { r.enqueue(presenceOp{login: true, u: u, local: first}) }

// Logout queues the removal of u's record.
func (r *Redis) Logout(u User, last bool) { r.enqueue(presenceOp{u: u, local: last}) }

func (r *Redis) enqueue(op presenceOp) {
	select {
	case r.ops <- op:
	default:
		r.dropped.Add(1)
		r.stale.Store(true)
		r.unwritten(op)
	}
}

// unwritten calls OnOnline or OnOffline for an operation the store did not take, as the
// node's own view says (op.local).
func (r *Redis) unwritten(op presenceOp) {
	switch {
	case !op.local:
	case op.login:
		r.hooks.OnOnline(op.u)
	default:
		r.hooks.OnOffline(op.u)
	}
}

// Sync waits until the writer has done the operations queued before it.
func (r *Redis) Sync(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.ops <- presenceOp{synced: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Redis) writerLoop(ctx context.Context) error {
	batch := make([]presenceOp, 0, batchMax)
	gap := time.NewTimer(flushGap)
	defer gap.Stop()
	var last time.Time // of the last flush
	for {
		select {
		case <-ctx.Done():
			return nil // deregister removes this node's users; queued ops no longer matter
		case op := <-r.ops:
			batch = append(batch[:0], op)
			if wait := flushGap - time.Since(last); wait > 0 {
				gap.Reset(wait)
			collect:
				for len(batch) < batchMax {
					select {
					case <-ctx.Done():
						return nil
					case op := <-r.ops:
						batch = append(batch, op)
					case <-gap.C:
						break collect
					}
				}
			}
		fill:
			for len(batch) < batchMax {
				select {
				case op := <-r.ops:
					batch = append(batch, op)
				default:
					break fill
				}
			}
			r.flush(ctx, batch)
			last = time.Now()
		case <-r.wake:
		}
		if r.stale.Load() && !r.isDown() {
			r.resync(ctx)
		}
	}
}

// flush writes a batch of presence operations in one pipeline, reports takeovers and
// users coming online or going offline, then releases the batch's Sync markers.
func (r *Redis) flush(ctx context.Context, batch []presenceOp) {
	ops := make([]presenceOp, 0, len(batch))
	for _, op := range batch {
		if op.synced != nil {
			defer close(op.synced)
		} else {
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return
	}
	if r.isDown() || r.stale.Load() {
		// A rewrite is due anyway (it reads the hub, which has these changes).
		r.dropAll(ops)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var where []opAnswer
	cmds, err := r.pipe(cctx, func(p redis.Pipeliner) { where = r.queueOps(cctx, p, ops) })
	if err != nil {
		r.fail(ctx, err)
		r.dropAll(ops)
		return
	}
	r.writes.Add(uint64(len(ops)))
	r.batches.Add(1)
	r.report(ops, cmds, where)
}

// dropAll gives up on ops until the next rewrite; their hooks go by the node's own view.
func (r *Redis) dropAll(ops []presenceOp) {
	r.dropped.Add(uint64(len(ops)))
	r.stale.Store(true)
	for _, op := range ops {
		r.unwritten(op)
	}
}

// opAnswer is where a presence operation's answer is in a pipeline: the index of its
// presenceScript call among the pipeline's commands, and its place in that call's answer.
type opAnswer struct{ call, pos int }

// queueOps adds ops to p, which must be empty: the presenceScript calls (one per app,
// each with that app's operations in order), then one SADD and one SREM per node set
// with each member's state after the batch. It returns where each op's answer is.
func (r *Redis) queueOps(ctx context.Context, p redis.Pipeliner, ops []presenceOp) []opAnswer {
	where := r.queueScripts(ctx, p, ops)
	type state struct {
		in    bool   // logged in after the batch
		owner string // the owner prefix of the batch's last login
	}
	type set struct {
		key     string
		members map[string]*state
		order   []string // members in first-seen order
	}
	var sets []*set
	for _, op := range ops {
		key := r.k.nodeUsers(op.u.Node)
		i := slices.IndexFunc(sets, func(s *set) bool { return s.key == key })
		if i < 0 {
			i = len(sets)
			sets = append(sets, &set{key: key, members: map[string]*state{}})
		}
		st, name := sets[i], member(op.u.App, op.u.ID)
		m := st.members[name]
		if m == nil {
			m = &state{}
			st.members[name] = m
			st.order = append(st.order, name)
		}
		switch {
		case op.login:
			m.in, m.owner = true, presenceOwner(op.u)
		case m.owner == "" || op.logoutOwner() == m.owner:
			m.in = false
		} // else: the logout of an older login, which the script leaves alone
	}
	self := r.k.nodeUsers(r.cfg.NodeID)
	for _, st := range sets {
		var add, rem []any
		for _, name := range st.order {
			switch {
			case st.members[name].in:
				add = append(add, name)
			case st.key == self && r.stillHere(name):
				// The logout of one of the user's sessions here: another stays, with its
				// own record, which the node's cleanup must still find.
			default:
				rem = append(rem, name)
			}
		}
		if len(add) > 0 {
			p.SAdd(ctx, st.key, add...)
		}
		if len(rem) > 0 {
			p.SRem(ctx, st.key, rem...)
		}
	}
	return where
}

// stillHere reports whether the user of a node set member has a session on this node.
func (r *Redis) stillHere(member string) bool {
	app, user, ok := parseMember(member)
	if !ok {
		return false
	}
	_, here := r.hooks.LocalUser(app, user)
	return here
}

// queueScripts adds one presenceScript call per app of ops (in the order the apps first
// appear) to p, which must be empty, and returns where each op's answer is.
func (r *Redis) queueScripts(ctx context.Context, p redis.Pipeliner, ops []presenceOp) []opAnswer {
	where := make([]opAnswer, len(ops))
	limit := r.limit()
	calls := map[uint32]int{}
	var args [][]any
	var apps []uint32
	for i, op := range ops {
		call, ok := calls[op.u.App]
		if !ok {
			call = len(apps)
			calls[op.u.App] = call
			apps = append(apps, op.u.App)
			args = append(args, nil)
		}
		where[i] = opAnswer{call: call, pos: len(args[call]) / 4}
		args[call] = append(args[call], op.args(limit)...)
	}
	for i, app := range apps {
		presenceScript.EvalSha(ctx, p, []string{r.k.appUsers(app), r.k.appIndex(app)}, args[i]...)
	}
	return where
}

// report reads the script's answer to each of ops: a login that replaced a live session
// on another node is a takeover, a login that found no other live session of its user
// brings it online, and a logout that left none takes it offline.
func (r *Redis) report(ops []presenceOp, cmds []redis.Cmder, where []opAnswer) {
	now := time.Now()
	for i, op := range ops {
		ans, ok := answerOf(cmds, where, i)
		if !ok {
			r.unwritten(op)
			continue
		}
		if !op.login {
			removed, left, _ := strings.Cut(ans, "\n")
			if removed == "1" && !r.othersLive(op.u, left, now) {
				r.hooks.OnOffline(op.u)
			}
			continue
		}
		gone, kept, _ := strings.Cut(ans, "\n")
		r.reportTakeovers(op.u, gone, now)
		if !r.othersLive(op.u, gone, now) && !r.othersLive(op.u, kept, now) {
			r.hooks.OnOnline(op.u)
		}
	}
}

// answerOf finds the i-th op's answer among the pipeline's results.
func answerOf(cmds []redis.Cmder, where []opAnswer, i int) (string, bool) {
	if i >= len(where) || where[i].call >= len(cmds) {
		return "", false
	}
	c, ok := cmds[where[i].call].(*redis.Cmd)
	if !ok {
		return "", false
	}
	answers, err := c.Slice()
	if err != nil || where[i].pos >= len(answers) {
		return "", false
	}
	s, ok := answers[where[i].pos].(string)
	return s, ok
}

// othersLive reports whether recs, space-separated presence records of u's user, name a
// session other than u on this node or on another live one.
func (r *Redis) othersLive(u User, recs string, now time.Time) bool {
	for rec := range strings.FieldsSeq(recs) {
		o, err := parsePresence(u.App, u.ID, rec)
		if err != nil || (o.Node == u.Node && o.LoginMs == u.LoginMs) {
			continue
		}
		if o.Node == r.cfg.NodeID {
			return true
		}
		if _, live := r.liveNode(o.Node, now); live {
			return true
		}
	}
	return false
}

// reportTakeovers reports the sessions that a login's write replaced or dropped (gone,
// from the script's answer) on other live nodes, and, with several sessions per user,
// on this one.
func (r *Redis) reportTakeovers(by User, gone string, now time.Time) {
	for rec := range strings.FieldsSeq(gone) {
		old, err := parsePresence(by.App, by.ID, rec)
		switch {
		case err != nil || (old.Node == by.Node && old.LoginMs == by.LoginMs):
			continue // the login's own record, written again
		case old.Node == r.cfg.NodeID:
			// With one session per user the hub has already replaced it; with more,
			// the hub kept it but the cluster has too many: the hook closes it here.
			if r.several() {
				r.hooks.OnTakeover(old, by)
			}
			continue
		}
		if _, live := r.liveNode(old.Node, now); !live {
			continue // a dead node's sessions are gone already
		}
		r.takeovers.Add(1)
		r.hooks.OnTakeover(old, by)
	}
}

// resync rewrites this node's presence from the hub: it removes entries of users no
// longer here and writes every local user. Takeovers are not reported: after an outage
// both nodes may hold a session of the same user, and closing one of them on a stale
// view could close the newer.
func (r *Redis) resync(ctx context.Context) {
	r.stale.Store(false)
	r.resyncs.Add(1)
	start := time.Now()
	keep := make(map[dedupKey]bool)
	var users []User
	for u := range r.hooks.Local() {
		keep[dedupKey{u.App, u.ID}] = true
		users = append(users, u)
	}
	removed, err := r.removeNodeUsers(ctx, r.cfg.NodeID, keep)
	if err != nil {
		r.stale.Store(true)
		return
	}
	ops := make([]presenceOp, 0, 2*batchMax)
	several := r.several()
	for chunk := range slices.Chunk(users, batchMax) {
		ops = ops[:0]
		for j, u := range chunk {
			if several && (j == 0 || chunk[j-1].App != u.App || chunk[j-1].ID != u.ID) {
				// Records an earlier process with this node id left for a user still
				// here go first (a login replaces the whole value with one session per
				// user, and a record with the same login time with more).
				ops = append(ops, presenceOp{u: u, owner: r.cfg.NodeID + "|"})
			}
			ops = append(ops, presenceOp{login: true, u: u})
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		_, err := r.pipe(cctx, func(p redis.Pipeliner) { r.queueOps(cctx, p, ops) })
		cancel()
		if err != nil {
			r.fail(ctx, err)
			r.stale.Store(true)
			return
		}
		r.writes.Add(uint64(len(ops)))
		r.batches.Add(1)
	}
	r.log.Info("presence rewritten", "node_id", r.cfg.NodeID, "users", len(users), "stale_removed", removed,
		"took", time.Since(start).Round(time.Millisecond))
}

// Lookup finds app/user's newest session on a live node.
func (r *Redis) Lookup(ctx context.Context, app uint32, user string) (User, bool, error) {
	us, err := r.Sessions(ctx, app, user)
	if err != nil || len(us) == 0 {
		return User{}, false, err
	}
	return us[len(us)-1], true, nil
}

// Sessions returns app/user's sessions on live nodes, oldest first.
func (r *Redis) Sessions(ctx context.Context, app uint32, user string) ([]User, error) {
	if r.isDown() {
		return nil, unavailable("look up user", nil)
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	v, err := r.rdb.HGet(cctx, r.k.appUsers(app), user).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		r.fail(ctx, err)
		return nil, unavailable("look up user", err)
	}
	var us []User
	for rec := range strings.FieldsSeq(v) {
		u, err := parsePresence(app, user, rec)
		if err != nil {
			return nil, err
		}
		us = append(us, u)
	}
	refreshed := false
	out := us[:0]
	for _, u := range us {
		_, live := r.Node(u.Node)
		if !live && u.Node != r.cfg.NodeID && !refreshed {
			// A node that joined (or came back) after the last renewal, or a dead one:
			// ask the registry. This costs a second round trip only for users of nodes
			// not known live, which a dead node's are for at most 2 x NodeTTL, until it
			// is collected.
			if err := r.refresh(cctx); err != nil {
				return nil, err
			}
			refreshed = true
			_, live = r.Node(u.Node)
		}
		if live || u.Node == r.cfg.NodeID {
			out = append(out, u)
		}
	}
	return out, nil
}

// Node returns a live node from the cache (no I/O).
func (r *Redis) Node(id string) (Node, bool) {
	return r.liveNode(id, time.Now())
}

// Users returns a page of app's online users after cursor, sorted by id.
func (r *Redis) Users(ctx context.Context, app uint32, cursor string, limit int) (Page, error) {
	if r.isDown() {
		return Page{}, unavailable("list users", nil)
	}
	start := "-"
	if cursor != "" {
		start = "(" + cursor
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	var rng *redis.StringSliceCmd
	var total *redis.IntCmd
	_, err := r.rdb.Pipelined(cctx, func(p redis.Pipeliner) error {
		rng = p.ZRangeArgs(cctx, redis.ZRangeArgs{Key: r.k.appIndex(app), Start: start, Stop: "+",
			ByLex: true, Offset: 0, Count: int64(limit) + 1})
		total = p.ZCard(cctx, r.k.appIndex(app))
		return nil
	})
	if err != nil {
		r.fail(ctx, err)
		return Page{}, unavailable("list users", err)
	}
	users := rng.Val()
	page := Page{Total: int(total.Val()), Users: users}
	if len(users) > limit {
		page.Users = users[:limit]
		page.Next = users[limit-1]
	}
	if page.Users == nil {
		page.Users = []string{}
	}
	return page, nil
}

// ---- Dedup ----

// First records app/id in Redis (SET NX with the window as TTL), so a repeat is caught
// on any node. While Redis is unreachable it falls back to this node's memory.
func (r *Redis) First(ctx context.Context, app uint32, id string) bool {
	if !r.isDown() {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
		ok, err := r.rdb.SetNX(cctx, r.k.dedup(app, id), r.cfg.NodeID, r.cfg.DedupWindow).Result()
		if err == nil {
			return ok
		}
		r.fail(ctx, err)
	}
	return r.local.First(app, id)
}

// Forget drops app/id.
func (r *Redis) Forget(ctx context.Context, app uint32, id string) {
	r.local.Forget(app, id)
	if r.isDown() {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	if err := r.rdb.Del(cctx, r.k.dedup(app, id)).Err(); err != nil {
		r.fail(ctx, err) // the id stays remembered until its TTL; a retry is acknowledged as duplicate
	}
}

// ---- Redis helpers ----

// eval runs a script by hash, loading it when Redis does not know it.
func (r *Redis) eval(ctx context.Context, s *redis.Script, keys []string, args ...any) (any, error) {
	return s.Run(ctx, r.rdb, keys, args...).Result()
}

// pipe runs a pipeline; when a script was unknown (Redis restarted or failed over), it
// loads the scripts and runs the pipeline once more. The operations are idempotent.
func (r *Redis) pipe(ctx context.Context, fill func(redis.Pipeliner)) ([]redis.Cmder, error) {
	for attempt := 0; ; attempt++ {
		p := r.rdb.Pipeline()
		fill(p)
		cmds, err := p.Exec(ctx)
		if err == nil {
			return cmds, nil
		}
		noScript := false
		for _, c := range cmds {
			if c.Err() != nil && redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
				noScript = true
				break
			}
		}
		if !noScript || attempt > 0 {
			return cmds, err
		}
		if err := r.loadScripts(ctx); err != nil {
			return cmds, err
		}
	}
}

// loadScripts loads every script (on every master of a Redis Cluster).
func (r *Redis) loadScripts(ctx context.Context) error {
	for _, s := range allScripts {
		if err := s.Load(ctx, r.rdb).Err(); err != nil {
			return fmt.Errorf("load redis script: %w", err)
		}
	}
	return nil
}

// Stats returns the broker's counters.
func (r *Redis) Stats() RedisStats {
	down := r.isDown()
	r.mu.Lock()
	nodes := len(r.peersLocked(time.Now(), down)) + 1
	r.mu.Unlock()
	return RedisStats{
		Up: !down, Nodes: nodes, Errors: r.errs.Load(), Outages: r.outages.Load(),
		Writes: r.writes.Load(), Batches: r.batches.Load(), Dropped: r.dropped.Load(),
		Resyncs: r.resyncs.Load(), Takeovers: r.takeovers.Load(), Collected: r.collected.Load(),
	}
}

var (
	_ Broker = (*Redis)(nil)
	_ Broker = (*Memory)(nil)
)

// clientName is the name the node's Redis connections carry (CLIENT LIST shows it):
// "gows-" and the node id, each byte Redis refuses in a name (anything but printable
// ASCII: a node id may be 東京-1) written as '_' instead of failing every call.
func clientName(nodeID string) string {
	b := []byte("gows-" + nodeID)
	for i, c := range b {
		if c < '!' || c > '~' {
			b[i] = '_'
		}
	}
	return string(b)
}
