package cluster

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
)

// ErrUnavailable is returned by cluster-wide operations while the shared store (Redis)
// cannot be reached. Local work does not depend on it.
var ErrUnavailable = errors.New("cluster store unavailable")

// User is one online user as presence records it.
type User struct {
	App     uint32
	ID      string
	Node    string // id of the node holding the connection
	LoginMs int64  // login time, unix milliseconds, on Node's clock
	Addr    string // client address as Node saw it
}

// Node describes a live node of the cluster. Nodes publish it with every lease renewal,
// so its counts are at most NodeTTL/3 old.
type Node struct {
	ID          string `json:"id"`
	Version     string `json:"version,omitempty"`
	HTTPAddr    string `json:"httpAddr,omitempty"`
	GRPCAddr    string `json:"grpcAddr,omitempty"`
	StartedMs   int64  `json:"startedMs"`
	HeartbeatMs int64  `json:"heartbeatMs"` // last renewal, unix ms (Redis clock); set by the registry
	Connections int64  `json:"connections"`
	Users       int64  `json:"users"`
	RSSBytes    uint64 `json:"rssBytes"`
	PSSBytes    uint64 `json:"pssBytes,omitempty"`
	Draining    bool   `json:"draining,omitempty"`
}

// Page is one page of an app's online users, sorted by user id.
type Page struct {
	Total int      // all online users of the app
	Users []string // at most the requested limit, after the cursor
	Next  string   // cursor of the next page; "" at the end
}

// Presence records which node holds each online user and answers where a user is.
type Presence interface {
	// Login records u. It never blocks on the store; the write may happen later. first
	// says whether u is its user's only session on this node, for Hooks.OnOnline.
	Login(u User, first bool)
	// Logout removes u's record if it is still the one Login wrote (same node and
	// login time), so a newer login elsewhere is never undone. last says whether u was
	// its user's last session on this node, and was not replaced by a newer login, for
	// Hooks.OnOffline.
	Logout(u User, last bool)
	// Lookup finds app/user's newest session on a live node; false when not online.
	Lookup(ctx context.Context, app uint32, user string) (User, bool, error)
	// Sessions returns app/user's sessions on live nodes, oldest first; none when not
	// online.
	Sessions(ctx context.Context, app uint32, user string) ([]User, error)
	// Users returns a page of app's online users after cursor.
	Users(ctx context.Context, app uint32, cursor string, limit int) (Page, error)
}

// Registry is the set of live nodes.
type Registry interface {
	// Peers returns the live nodes other than this one, as of the last lease renewal
	// (no I/O). While the store cannot be reached it returns every peer of the last
	// registry read, whatever their leases say, so that broadcasts still reach them.
	Peers() []Node
	// FreshPeers returns the live nodes other than this one, reading the registry first
	// when the last read is older than maxAge, so that a node that joined since this
	// node's last renewal is included. When the store cannot answer, it returns Peers.
	FreshPeers(ctx context.Context, maxAge time.Duration) []Node
	// Node returns a live node as of the last registry read (no I/O).
	Node(id string) (Node, bool)
	// Nodes reads every live node, this one included, from the store.
	Nodes(ctx context.Context) ([]Node, error)
	// Drain marks this node as draining for the other nodes and operators.
	Drain(ctx context.Context) error
}

// Deduper remembers pushed message ids for a window.
type Deduper interface {
	// First records app/id and reports whether it was not seen within the window.
	First(ctx context.Context, app uint32, id string) bool
	// Forget drops app/id so that a push that reached nobody can be retried.
	Forget(ctx context.Context, app uint32, id string)
}

// Broker is everything a node shares with the cluster. Redis and Memory implement it;
// both are safe for concurrent use.
type Broker interface {
	Presence
	Registry
	Deduper
	// Run keeps the node registered (and does queued writes) until ctx is cancelled,
	// then deregisters it, releases the store and returns. Cancel ctx only after the
	// node's connections are closed, so that their logouts are written first.
	Run(ctx context.Context) error
	// Sync waits until the presence operations queued before it are written and their
	// hooks called, or until ctx ends (then it returns ctx's error).
	Sync(ctx context.Context) error
}

// Hooks connect a broker to its node. Every hook is called from one of the broker's own
// goroutines and must not block.
type Hooks struct {
	// Self describes this node for the registry (addresses and current counts).
	Self func() Node
	// Local lists the users logged in on this node, to rewrite presence after an outage.
	Local func() iter.Seq[User]
	// OnPeers is called with the live peers whenever that set changes.
	OnPeers func(peers []Node)
	// OnTakeover is called when a login here (by) replaced the record of old on another
	// live node; that node should close old's connection.
	OnTakeover func(old, by User)
	// OnOnline is called after the login of u when its user had no other session on a
	// live node (the user came online), OnOffline after the logout of u when that left
	// its user none (the user went offline). The store decides, in the same step as the
	// write, so that of two nodes only one tells; where it cannot (the write failed or
	// was dropped), the node's own view does: Login's first, Logout's last. Memory calls
	// them from Login and Logout, with that view.
	OnOnline, OnOffline func(u User)
	// LocalUser finds a user's newest session on this node, LocalSessions all of its
	// sessions here (oldest first; nil: LocalUser's), and LocalApp lists an app's users on
	// this node, sorted. Memory answers presence with them.
	LocalUser     func(app uint32, user string) (User, bool)
	LocalSessions func(app uint32, user string) []User
	LocalApp      func(app uint32) []string
}

func (h Hooks) withDefaults(nodeID string) Hooks {
	if h.Self == nil {
		h.Self = func() Node { return Node{ID: nodeID} }
	}
	if h.Local == nil {
		h.Local = func() iter.Seq[User] { return func(func(User) bool) {} }
	}
	if h.OnPeers == nil {
		h.OnPeers = func([]Node) {}
	}
	if h.OnTakeover == nil {
		h.OnTakeover = func(User, User) {}
	}
	if h.OnOnline == nil {
		h.OnOnline = func(User) {}
	}
	if h.OnOffline == nil {
		h.OnOffline = func(User) {}
	}
	if h.LocalUser == nil {
		h.LocalUser = func(uint32, string) (User, bool) { return User{}, false }
	}
	if h.LocalSessions == nil {
		one := h.LocalUser
		h.LocalSessions = func(app uint32, user string) []User {
			if u, ok := one(app, user); ok {
				return []User{u}
			}
			return nil
		}
	}
	if h.LocalApp == nil {
		h.LocalApp = func(uint32) []string { return nil }
	}
	return h
}

// presenceValue encodes where a session is: "node|loginMs|addr". A user with several
// sessions has their records in one value, separated by spaces (neither node ids nor
// addresses contain one), oldest first.
func presenceValue(u User) string {
	return u.Node + "|" + strconv.FormatInt(u.LoginMs, 10) + "|" + u.Addr
}

// presenceOwner is the prefix of the value that a logout must match.
func presenceOwner(u User) string {
	return u.Node + "|" + strconv.FormatInt(u.LoginMs, 10) + "|"
}

func parsePresence(app uint32, user, v string) (User, error) {
	node, rest, ok1 := strings.Cut(v, "|")
	ms, addr, ok2 := strings.Cut(rest, "|")
	login, err := strconv.ParseInt(ms, 10, 64)
	if !ok1 || !ok2 || err != nil || node == "" {
		return User{}, fmt.Errorf("presence of %d/%s: malformed value %q", app, user, v)
	}
	return User{App: app, ID: user, Node: node, LoginMs: login, Addr: addr}, nil
}

// ValidNodeID reports whether id can name a node: 1..128 bytes, no '|' (the presence
// value separator), no braces (they would change the Redis Cluster hash tag of the
// node's keys) and no spaces or control characters.
func ValidNodeID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, r := range id {
		if r == '|' || r == '{' || r == '}' || r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}
