package cluster_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	. "github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/testutil"
)

func TestMain(m *testing.M) {
	SetRedisLogger(slog.New(slog.DiscardHandler)) // the tests kill and pause Redis on purpose
	goleak.VerifyTestMain(m)
}

// localUsers is a node's hub as the tests see it.
type localUsers struct {
	mu    sync.Mutex // guards users
	users map[string]User
}

func (l *localUsers) add(u User) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.users == nil {
		l.users = map[string]User{}
	}
	l.users[fmt.Sprint(u.App, "/", u.ID)] = u
}

func (l *localUsers) seq() iter.Seq[User] {
	l.mu.Lock()
	all := make([]User, 0, len(l.users))
	for _, u := range l.users {
		all = append(all, u)
	}
	l.mu.Unlock()
	return func(yield func(User) bool) {
		for _, u := range all {
			if !yield(u) {
				return
			}
		}
	}
}

type takeover struct{ old, by User }

// node is a broker under test with its fake hub and recorded hooks.
type node struct {
	*Redis
	local     *localUsers
	takeovers chan takeover
	presence  chan string // "online ID" or "offline ID" for each OnOnline and OnOffline
	stop      func()

	mu      sync.Mutex // guards onPeers
	onPeers []string   // the peers OnPeers was last called with
}

// hookedPeers returns the ids of the peers OnPeers was last called with, the set the
// server keeps its gRPC connections for.
func (n *node) hookedPeers() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.onPeers
}

type nodeOpt func(*RedisConfig)

// startNode runs a Redis broker for id against addrs (one address: a single server;
// three: a Redis Cluster) and stops it when the test ends.
func startNode(t *testing.T, addrs []string, prefix, id string, opts ...nodeOpt) *node {
	t.Helper()
	n := newNode(t, addrs, prefix, id, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	n.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("broker %s run: %v", id, err)
			}
		})
	}
	t.Cleanup(n.stop)
	return n
}

// Test broker timings: a Redis call on two busy cores under -race must not miss its
// deadline by accident (a missed one counts as an outage), and the timeout must stay
// under a third of the TTL, as the server's config requires.
const (
	testTimeout = time.Second
	testTTL     = 3300 * time.Millisecond
	// testWait bounds a wait that may include a lease running out (2 x TTL for a dead
	// node's users) plus the renewals that notice it.
	testWait = 4 * testTTL
	// testSlack is what a loaded machine may add to a call that should take about its
	// deadline.
	testSlack = time.Second
)

// newNode builds a broker without running it.
func newNode(t *testing.T, addrs []string, prefix, id string, opts ...nodeOpt) *node {
	t.Helper()
	cfg := RedisConfig{NodeID: id, Addrs: addrs, Prefix: prefix, Timeout: testTimeout,
		NodeTTL: testTTL, DedupWindow: time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	n := &node{local: &localUsers{}, takeovers: make(chan takeover, 16), presence: make(chan string, 16)}
	tell := func(what string) func(User) {
		return func(u User) {
			select {
			case n.presence <- what + " " + u.ID:
			default:
			}
		}
	}
	r, err := NewRedis(cfg, Hooks{
		Self:  func() Node { return Node{GRPCAddr: "127.0.0.1:1", Users: 7} },
		Local: n.local.seq,
		OnPeers: func(peers []Node) {
			ids := make([]string, len(peers))
			for i, p := range peers {
				ids[i] = p.ID
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			n.onPeers = ids
		},
		OnTakeover: func(old, by User) {
			select {
			case n.takeovers <- takeover{old, by}:
			default:
			}
		},
		OnOnline:  tell("online"),
		OnOffline: tell("offline"),
	})
	if err != nil {
		t.Fatal(err)
	}
	n.Redis = r
	return n
}

func (n *node) login(u User) {
	n.local.add(u)
	n.Login(u, true)
}

func lookup(t *testing.T, n *node, app uint32, user string) (User, bool) {
	t.Helper()
	u, ok, err := n.Lookup(t.Context(), app, user)
	if err != nil {
		t.Fatalf("lookup %s: %v", user, err)
	}
	return u, ok
}

// waitOnline waits until n resolves app/user to node want ("" for offline).
func waitOnline(t *testing.T, n *node, app uint32, user, want string) {
	t.Helper()
	testutil.Eventually(t, testWait, func() error {
		u, ok, err := n.Lookup(t.Context(), app, user)
		if err != nil {
			return err
		}
		got := ""
		if ok {
			got = u.Node
		}
		if got != want {
			return fmt.Errorf("%s is on %q, want %q", user, got, want)
		}
		return nil
	})
}

func waitPeers(t *testing.T, n *node, want ...string) {
	t.Helper()
	testutil.Eventually(t, testWait, func() error {
		var ids []string
		for _, p := range n.Peers() {
			ids = append(ids, p.ID)
		}
		if strings.Join(ids, ",") != strings.Join(want, ",") {
			return fmt.Errorf("peers of %s = %v, want %v", n.Config().NodeID, ids, want)
		}
		return nil
	})
}

func waitHookedPeers(t *testing.T, n *node, want ...string) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := n.hookedPeers(); strings.Join(got, ",") != strings.Join(want, ",") {
			return fmt.Errorf("OnPeers of %s last called with %v, want %v", n.Config().NodeID, got, want)
		}
		return nil
	})
}

func TestRedis_PresenceAndRegistry(t *testing.T) {
	r := testutil.StartRedis(t)
	presenceAndRegistry(t, []string{r.Addr})
}

func TestRedisSentinel_PresenceAndRegistry(t *testing.T) {
	master := testutil.StartRedis(t)
	sentinel := testutil.StartRedisSentinel(t, master)
	presenceAndRegistry(t, []string{sentinel.Addr}, func(c *RedisConfig) { c.MasterName = "mymaster" })
}

func TestRedisCluster_PresenceAndRegistry(t *testing.T) {
	rc := testutil.StartRedisCluster(t)
	presenceAndRegistry(t, rc.Addrs)
}

// presenceAndRegistry is the common scenario for a single Redis and a Redis Cluster:
// two nodes register and see each other, a user logs in on one and is found from the
// other, moves to the other (takeover reported), lists are paged, a stale logout does
// not undo a newer login, and a clean stop deregisters a node and its users.
func presenceAndRegistry(t *testing.T, addrs []string, opts ...nodeOpt) {
	a := startNode(t, addrs, "t1", "node-a", opts...)
	b := startNode(t, addrs, "t1", "node-b", opts...)
	waitPeers(t, a, "node-b")
	waitPeers(t, b, "node-a")

	u1 := User{App: 101, ID: "u1", Node: "node-a", LoginMs: 1000, Addr: "127.0.0.1:5000"}
	a.login(u1)
	waitOnline(t, b, 101, "u1", "node-a")
	got, _ := lookup(t, b, 101, "u1")
	if got != u1 {
		t.Fatalf("lookup from b = %+v, want %+v", got, u1)
	}

	// The same user logs in on b: a's session is reported for a kick, with a's login.
	u1b := User{App: 101, ID: "u1", Node: "node-b", LoginMs: 2000, Addr: "127.0.0.1:6000"}
	b.login(u1b)
	wantTakeover(t, b, u1, u1b)
	waitOnline(t, a, 101, "u1", "node-b")
	// a's late logout of its replaced session leaves b's record alone.
	a.Logout(u1, false)
	for i := range 25 {
		a.login(User{App: 101, ID: "p" + strconv.Itoa(i), Node: "node-a", LoginMs: 3000})
	}
	testutil.Eventually(t, testWait, func() error {
		p, err := b.Users(t.Context(), 101, "", 10)
		if err != nil {
			return err
		}
		if p.Total != 26 {
			return fmt.Errorf("total = %d, want 26", p.Total)
		}
		return nil
	})
	if u, ok := lookup(t, a, 101, "u1"); !ok || u.Node != "node-b" {
		t.Fatalf("after the stale logout u1 = %+v %v, want on node-b", u, ok)
	}
	// Paging: 26 ids, sorted, in pages of 10.
	var all []string
	cursor := ""
	for range 5 {
		p, err := a.Users(t.Context(), 101, cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Users...)
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(all) != 26 || all[0] != "p0" || all[25] != "u1" || all[10] != "p18" {
		t.Fatalf("paged list = %v", all)
	}

	nodes, err := a.Nodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 || nodes[0].ID != "node-a" || nodes[0].Users != 7 || nodes[1].GRPCAddr != "127.0.0.1:1" || nodes[0].HeartbeatMs == 0 {
		t.Fatalf("nodes = %+v", nodes)
	}

	// A clean stop removes a's users and a itself.
	a.stop()
	waitPeers(t, b)
	p, err := b.Users(t.Context(), 101, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 1 || p.Users[0] != "u1" {
		t.Fatalf("after a stopped: %+v", p)
	}
}

// TestRedis_DeadNodeIsRemoved: a node that stops renewing (a crash) stops resolving when
// its lease runs out and its users leave the lists within two TTLs.
func TestRedis_DeadNodeIsRemoved(t *testing.T) {
	r := testutil.StartRedis(t)
	addrs := []string{r.Addr}
	a := startNode(t, addrs, "t2", "node-a")
	// node-b registers and writes its users once, then "crashes": nothing runs for it.
	b := newNode(t, addrs, "t2", "node-b")
	t.Cleanup(func() { _ = b.Close() }) // its Run never ran: close what New opened
	if err := b.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	var users []User
	for i := range 50 {
		users = append(users, User{App: 7, ID: "b" + strconv.Itoa(i), Node: "node-b", LoginMs: 1})
	}
	b.WriteLogins(t.Context(), users)
	a.login(User{App: 7, ID: "a0", Node: "node-a", LoginMs: 1})
	waitOnline(t, a, 7, "b3", "node-b")
	waitHookedPeers(t, a, "node-b")
	crashed := time.Now()
	// Its registration expires: it is dropped from the peers (the server closes its gRPC
	// connection) within the TTL and a renewal.
	waitHookedPeers(t, a)

	waitOnline(t, a, 7, "b3", "")
	testutil.Eventually(t, testWait, func() error {
		p, err := a.Users(t.Context(), 7, "", 100)
		if err != nil {
			return err
		}
		if p.Total != 1 {
			return fmt.Errorf("users = %d, want 1 (node-b's removed)", p.Total)
		}
		return nil
	})
	if took, limit := time.Since(crashed), 2*a.Config().NodeTTL; took > limit {
		t.Errorf("dead node's users listed for %s, want at most %s", took, limit)
	}
	// The lists filter dead nodes at once; the collection that deletes their entries
	// follows.
	testutil.Eventually(t, testWait, func() error {
		if n := a.Stats().Collected; n != 1 {
			return fmt.Errorf("collected = %d, want 1", n)
		}
		return nil
	})
}

// TestRedis_RestartRewritesPresence: Redis loses everything; the node re-registers and
// rewrites its users without any login happening.
func TestRedis_RestartRewritesPresence(t *testing.T) {
	r := testutil.StartRedis(t)
	a := startNode(t, []string{r.Addr}, "t3", "node-a")
	for i := range 30 {
		a.login(User{App: 5, ID: "u" + strconv.Itoa(i), Node: "node-a", LoginMs: 10})
	}
	waitOnline(t, a, 5, "u29", "node-a")

	r.Restart()
	testutil.Eventually(t, 10*time.Second, func() error {
		p, err := a.Users(t.Context(), 5, "", 100)
		if err != nil {
			return err
		}
		if p.Total != 30 {
			return fmt.Errorf("users = %d, want 30", p.Total)
		}
		return nil
	})
	nodes, err := a.Nodes(t.Context())
	if err != nil || len(nodes) != 1 {
		t.Fatalf("nodes after restart = %v, %v", nodes, err)
	}
	// The empty Redis holds the 30 users again: the node rewrote them (whether it saw
	// the restart as an outage, or only as its registration gone at the next renewal).
	if st := a.Stats(); st.Resyncs < 1 || !st.Up {
		t.Errorf("stats = %+v, want a rewrite, and up", st)
	}
}

// TestRedis_EmptyRestartRewritesPresencePromptly: Redis restarts empty (no persistence)
// and the node's registration and users are gone. With a lease renewed only every 10s,
// the node must still notice at once and write them again, whether it saw the outage
// (a call failed while Redis was away) or not (Redis was back before its next call).
func TestRedis_EmptyRestartRewritesPresencePromptly(t *testing.T) {
	for _, sawOutage := range []bool{true, false} {
		t.Run(fmt.Sprintf("saw_outage=%v", sawOutage), func(t *testing.T) {
			r := testutil.StartRedis(t)
			a := startNode(t, []string{r.Addr}, "t3p", "node-a", func(c *RedisConfig) { c.NodeTTL = 30 * time.Second })
			for i := range 20 {
				a.login(User{App: 5, ID: "u" + strconv.Itoa(i), Node: "node-a", LoginMs: 10})
			}
			waitOnline(t, a, 5, "u19", "node-a")

			r.Kill()
			if sawOutage {
				if _, err := a.Users(t.Context(), 5, "", 100); !errors.Is(err, ErrUnavailable) {
					t.Fatalf("list users with redis stopped: err = %v, want ErrUnavailable", err)
				}
			}
			r.Restart() // a fresh, empty redis-server on the same port
			// Well within the 10s between renewals.
			testutil.Eventually(t, 4*time.Second, func() error {
				p, err := a.Users(t.Context(), 5, "", 100)
				if err != nil {
					return err
				}
				if p.Total != 20 {
					return fmt.Errorf("users = %d, want 20", p.Total)
				}
				return nil
			})
			nodes, err := a.Nodes(t.Context())
			if err != nil || len(nodes) != 1 || nodes[0].ID != "node-a" {
				t.Fatalf("nodes after restart = %v, %v; want node-a registered again", nodes, err)
			}
		})
	}
}

// TestRedis_PausedRedisFailsFast: a SIGSTOPped Redis costs a caller at most the
// timeout once; after that calls fail at once, logins never wait, and all recovers.
func TestRedis_PausedRedisFailsFast(t *testing.T) {
	r := testutil.StartRedis(t)
	a := startNode(t, []string{r.Addr}, "t4", "node-a")
	a.login(User{App: 1, ID: "x", Node: "node-a", LoginMs: 1})
	waitOnline(t, a, 1, "x", "node-a")

	r.Pause()
	start := time.Now()
	_, _, err := a.Lookup(t.Context(), 1, "x")
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lookup on a paused redis: err = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > a.Config().Timeout+testSlack {
		t.Fatalf("lookup took %s on a paused redis, timeout %s", took, a.Config().Timeout)
	}
	start = time.Now()
	for i := range 1000 {
		a.login(User{App: 1, ID: "y" + strconv.Itoa(i), Node: "node-a", LoginMs: 2})
	}
	if _, err := a.Users(t.Context(), 1, "", 10); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("users while down: %v", err)
	}
	if !a.First(t.Context(), 1, "m1") || a.First(t.Context(), 1, "m1") {
		t.Fatal("dedup falls back to memory while redis is down")
	}
	if took := time.Since(start); took >= testTimeout { // one of them waited for Redis
		t.Fatalf("1000 logins and two failed calls took %s while redis was known down", took)
	}
	if st := a.Stats(); st.Up || st.Outages != 1 {
		t.Fatalf("stats while paused = %+v, want down after one outage", st)
	}

	r.Resume()
	testutil.Eventually(t, 10*time.Second, func() error {
		p, err := a.Users(t.Context(), 1, "", 2000)
		if err != nil {
			return err
		}
		if p.Total != 1001 {
			return fmt.Errorf("users = %d, want 1001", p.Total)
		}
		return nil
	})
}

func TestRedis_DedupIsClusterWide(t *testing.T) {
	r := testutil.StartRedis(t)
	a := startNode(t, []string{r.Addr}, "t5", "node-a")
	b := startNode(t, []string{r.Addr}, "t5", "node-b")
	ctx := t.Context()
	if !a.First(ctx, 9, "m1") {
		t.Fatal("first use of m1 is a duplicate")
	}
	if b.First(ctx, 9, "m1") {
		t.Fatal("m1 again on another node is not a duplicate")
	}
	if !b.First(ctx, 10, "m1") {
		t.Fatal("the same id in another app is a duplicate")
	}
	a.Forget(ctx, 9, "m1")
	if !b.First(ctx, 9, "m1") {
		t.Fatal("a forgotten id is still a duplicate")
	}
}

// presenceUsers sizes TestRedis_LoginsAreBatched; docs/cluster.md measures with
// -presence-users 200000.
var presenceUsers = flag.Int("presence-users", 20000, "logins written by TestRedis_LoginsAreBatched")

// TestRedis_LoginsAreBatched: 20,000 logins take far fewer round trips, and Redis's
// memory per online user is measured.
func TestRedis_LoginsAreBatched(t *testing.T) {
	r := testutil.StartRedis(t)
	a := startNode(t, []string{r.Addr}, "t6", "gows-node-01")
	waitPeers(t, a)
	before := usedMemory(t, r)
	n := *presenceUsers
	start := time.Now()
	for i := range n {
		a.login(User{App: 101, ID: fmt.Sprintf("user-%06d", i), Node: "gows-node-01",
			LoginMs: time.Now().UnixMilli(), Addr: "127.0.0.1:" + strconv.Itoa(10000+i%50000)})
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		if w := a.Stats().Writes; w < uint64(n) {
			return fmt.Errorf("%d of %d written", w, n)
		}
		return nil
	})
	took := time.Since(start)
	st := a.Stats()
	if st.Batches > uint64(n/10) {
		t.Errorf("%d logins took %d pipelines, want at most %d", n, st.Batches, n/10)
	}
	perUser := (usedMemory(t, r) - before) / int64(n)
	t.Logf("%d logins written in %s with %d pipelines (%.0f/s); redis memory %d bytes per online user",
		n, took.Round(time.Millisecond), st.Batches, float64(n)/took.Seconds(), perUser)
	if perUser > 1024 {
		t.Errorf("redis memory per user = %d bytes, want under 1 KiB", perUser)
	}
}

// TestRedis_BatchAppliesOpsInOrder: one pipeline with logins and logouts of the same
// users, in two apps, leaves each user as its last operation says, in the app's records
// and in the node's set.
func TestRedis_BatchAppliesOpsInOrder(t *testing.T) {
	r := testutil.StartRedis(t)
	a := newNode(t, []string{r.Addr}, "t9", "n1")
	u := func(app uint32, id string, ms int64) User {
		return User{App: app, ID: id, Node: "n1", LoginMs: ms, Addr: "127.0.0.1:1"}
	}
	a.WriteBatch(t.Context(), []BatchOp{
		{Login: true, U: u(101, "again", 1)}, {U: u(101, "again", 1)}, {Login: true, U: u(101, "again", 2)},
		{Login: true, U: u(102, "other-app", 1)},
		{Login: true, U: u(101, "gone", 1)}, {U: u(101, "gone", 1)},
		{Login: true, U: u(101, "stale-logout", 2)}, {U: u(101, "stale-logout", 1)}, // an older login's logout
	})
	if st := a.Stats(); st.Writes != 8 || st.Batches != 1 {
		t.Fatalf("stats %+v, want 8 writes in 1 batch", st)
	}
	for _, c := range []struct {
		app    uint32
		id     string
		online bool
		ms     int64
	}{{101, "again", true, 2}, {102, "other-app", true, 1}, {101, "gone", false, 0}, {101, "stale-logout", true, 2}} {
		got, ok, err := a.Lookup(t.Context(), c.app, c.id)
		if err != nil || ok != c.online || (ok && got.LoginMs != c.ms) {
			t.Errorf("%d/%s: %+v online %v (%v); want online %v, login %d", c.app, c.id, got, ok, err, c.online, c.ms)
		}
		want := "0"
		if c.online {
			want = "1"
		}
		if m, err := r.Command(time.Second, "SISMEMBER", a.NodeUsersKey("n1"), fmt.Sprintf("%d:%s", c.app, c.id)); err != nil || m != want {
			t.Errorf("%d/%s in the node's set: %q %v, want %s", c.app, c.id, m, err, want)
		}
	}
}

func usedMemory(t *testing.T, r *testutil.Redis) int64 {
	t.Helper()
	info, err := r.Command(time.Second, "INFO", "memory")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory: %q", info)
	return 0
}

// TestRedis_RestartedNodeKeepsItsUsersThroughCleanup: a node that crashed and came back
// with the same id, between its old lease running out and another node's cleanup of
// it, keeps the users it wrote since; and a node whose users a cleanup removed while it
// was coming back writes them again at its next renewal.
func TestRedis_RestartedNodeKeepsItsUsersThroughCleanup(t *testing.T) {
	r := testutil.StartRedis(t)
	addrs := []string{r.Addr}
	a := newNode(t, addrs, "t9", "node-a")
	t.Cleanup(func() { _ = a.Close() })
	old := newNode(t, addrs, "t9", "node-b")
	t.Cleanup(func() { _ = old.Close() })
	if err := old.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	old.WriteLogins(t.Context(), []User{{App: 7, ID: "gone", Node: "node-b", LoginMs: 1}})
	// node-b crashes; its lease runs out.
	testutil.Eventually(t, testWait, func() error {
		if err := a.Heartbeat(t.Context()); err != nil {
			return err
		}
		if _, live := a.Node("node-b"); live {
			return errors.New("node-b still live")
		}
		return nil
	})

	// It comes back (same id) and its user logs in again before anyone cleans up.
	back := newNode(t, addrs, "t9", "node-b")
	t.Cleanup(func() { _ = back.Close() })
	if err := back.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh := User{App: 7, ID: "fresh", Node: "node-b", LoginMs: 2}
	back.local.add(fresh)
	back.WriteLogins(t.Context(), []User{fresh})

	// node-a's cleanup of the dead node-b, from a renewal before the restart.
	if err := a.Collect(t.Context(), "node-b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(t, a, 7, "fresh"); !ok {
		t.Fatal("the cleanup of the old node-b removed the user of the node that came back")
	}

	// A cleanup that claimed node-b while it was dead and removes its entries after it
	// came back cannot tell them apart: node-b's next renewal must write them again.
	if err := a.RemoveDead(t.Context(), "node-b"); err != nil {
		t.Fatal(err)
	}
	if _, ok := lookup(t, a, 7, "fresh"); ok {
		t.Fatal("setup: fresh still online")
	}
	// The writer loop is not running: do what it does when woken.
	if err := back.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	back.ResyncIfStale(t.Context())
	if _, ok := lookup(t, a, 7, "fresh"); !ok {
		t.Fatal("node-b did not rewrite its users after a cleanup removed them")
	}
}

// TestRedis_QuickRestartForgetsTheOldProcessUsers: a node killed and started again with
// the same id while its lease is still current (no cleanup will come) removes the users
// its previous process wrote, at once, instead of listing them for ever.
func TestRedis_QuickRestartForgetsTheOldProcessUsers(t *testing.T) {
	r := testutil.StartRedis(t)
	addrs := []string{r.Addr}
	a := startNode(t, addrs, "t11", "node-a")
	old := newNode(t, addrs, "t11", "node-b")
	t.Cleanup(func() { _ = old.Close() })
	if err := old.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	old.WriteLogins(t.Context(), []User{{App: 7, ID: "gone", Node: "node-b", LoginMs: 1}})
	waitOnline(t, a, 7, "gone", "node-b")

	// Killed (nothing more runs for old) and started again at once, with no users yet.
	back := startNode(t, addrs, "t11", "node-b")
	waitOnline(t, a, 7, "gone", "")
	p, err := a.Users(t.Context(), 7, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 0 {
		t.Fatalf("users of app 7 after the restart = %+v, want none", p)
	}
	if _, live := a.Node("node-b"); !live {
		t.Fatal("the restarted node-b is not live")
	}
	if s := back.Stats(); s.Resyncs == 0 {
		t.Fatalf("stats of the restarted node = %+v, want a presence rewrite", s)
	}
}

// TestRedis_PeersOutliveTheirLeasesWhileRedisIsDown: during an outage longer than the
// lease, the peers of the last registry read stay the broadcast targets (a node cannot
// tell that they are alive, nor that they are not), instead of silently none.
func TestRedis_PeersOutliveTheirLeasesWhileRedisIsDown(t *testing.T) {
	r := testutil.StartRedis(t)
	addrs := []string{r.Addr}
	a := startNode(t, addrs, "t10", "node-a")
	startNode(t, addrs, "t10", "node-b")
	waitPeers(t, a, "node-b")

	r.Kill()
	testutil.Eventually(t, testWait, func() error {
		if a.Stats().Up {
			return errors.New("node-a has not noticed the outage")
		}
		return nil
	})
	// node-b's lease runs out in node-a's view.
	testutil.Eventually(t, testWait, func() error {
		if _, live := a.Node("node-b"); live {
			return errors.New("node-b's lease still current")
		}
		return nil
	})
	for name, peers := range map[string][]Node{"Peers": a.Peers(), "FreshPeers": a.FreshPeers(t.Context(), 0)} {
		if len(peers) != 1 || peers[0].ID != "node-b" {
			t.Errorf("%s during the outage = %v, want node-b", name, peers)
		}
	}
	if n := a.Stats().Nodes; n != 2 {
		t.Errorf("nodes during the outage = %d, want 2", n)
	}
}

// TestRedis_DuplicateNodeIDIsReported: two live processes with one node id overwrite
// each other's registration and presence; each says so, once, at an error level.
func TestRedis_DuplicateNodeIDIsReported(t *testing.T) {
	r := testutil.StartRedis(t)
	var logs [2]strings.Builder // the brokers do not run: only this goroutine logs
	var brokers [2]*Redis
	for i := range brokers {
		b, err := NewRedis(RedisConfig{NodeID: "twin", Addrs: []string{r.Addr}, Prefix: "t11",
			Timeout: testTimeout, NodeTTL: testTTL, DedupWindow: time.Minute,
			Logger: slog.New(slog.NewTextHandler(&logs[i], nil))},
			Hooks{Self: func() Node { return Node{GRPCAddr: fmt.Sprintf("127.0.0.1:%d", 1+i), StartedMs: 1} }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		brokers[i] = b
	}
	// Alone, renewing again is no fault.
	for range 2 {
		if err := brokers[0].Heartbeat(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(logs[0].String(), "level=ERROR") {
		t.Fatalf("a node alone reported an error:\n%s", logs[0].String())
	}
	for range 3 {
		for _, b := range brokers {
			if err := b.Heartbeat(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range logs {
		if n := strings.Count(logs[i].String(), "level=ERROR msg=\"another node uses this node id"); n != 1 {
			t.Errorf("broker %d reported the other %d times, want once:\n%s", i, n, logs[i].String())
		}
	}
}

// A node id outside printable ASCII (valid for node_id) is kept in the registry as it
// is; only the Redis client name, which Redis restricts, is written with '_' for it.
func TestRedis_NonASCIINodeID(t *testing.T) {
	r := testutil.StartRedis(t)
	a := startNode(t, []string{r.Addr}, "t1", "東京-1")
	b := startNode(t, []string{r.Addr}, "t1", "b")
	waitPeers(t, b, "東京-1")
	a.login(User{App: 101, ID: "u1", Node: "東京-1", LoginMs: 1000})
	waitOnline(t, b, 101, "u1", "東京-1")
	if got := ClientName("東京-1 x"); got != "gows-______-1_x" {
		t.Fatalf("client name %q", got)
	}
}

// Error replies (Redis up, but refusing writes: here out of memory) do not mark Redis
// down; they are counted, logged once for a burst, and the presence they failed to write
// is marked for a rewrite.
func TestRedis_ErrorRepliesAreLoggedOnce(t *testing.T) {
	r := testutil.StartRedis(t)
	var log strings.Builder // the broker does not run: only this goroutine logs
	b, err := NewRedis(RedisConfig{NodeID: "full", Addrs: []string{r.Addr}, Prefix: "t12",
		Timeout: testTimeout, NodeTTL: testTTL, DedupWindow: time.Minute,
		Logger: slog.New(slog.NewTextHandler(&log, nil))},
		Hooks{Self: func() Node { return Node{GRPCAddr: "127.0.0.1:1", StartedMs: 1} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	if err := b.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Command(5*time.Second, "CONFIG", "SET", "maxmemory", "1"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		b.WriteLogins(t.Context(), []User{{App: 101, ID: fmt.Sprintf("u%d", i), Node: "full", LoginMs: 1}})
	}
	st := b.Stats()
	if !st.Up || st.Errors != 3 || st.Dropped != 3 || st.Outages != 0 {
		t.Fatalf("stats %+v: want up, 3 errors, 3 dropped, no outage", st)
	}
	if n := strings.Count(log.String(), "redis refused a command"); n != 1 || !strings.Contains(log.String(), "OOM") {
		t.Fatalf("logged %d times, want once naming the reply:\n%s", n, log.String())
	}
}

// wantTakeover waits for n to report that by's login replaced old.
func wantTakeover(t *testing.T, n *node, old, by User) {
	t.Helper()
	select {
	case tk := <-n.takeovers:
		if tk.old != old || tk.by != by {
			t.Fatalf("takeover %+v, want old %+v by %+v", tk, old, by)
		}
	case <-time.After(testWait):
		t.Fatalf("no takeover of %+v reported", old)
	}
}
