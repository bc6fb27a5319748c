package cluster

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is the Broker of a single node: presence, registry and dedup in this process.
// It is the default when no Redis is configured, so the server runs the same code with
// or without a cluster. Presence is the node's own registry, read through
// Hooks.LocalUser and Hooks.LocalApp: a cluster of one keeps no second copy of its users.
// It is safe for concurrent use.
type Memory struct {
	nodeID string
	hooks  Hooks
	dedup  *Dedup

	mu       sync.Mutex // guards draining
	draining bool
}

// NewMemory returns the broker of a node that is a cluster of one. dedupWindow is how
// long a message id is remembered.
func NewMemory(nodeID string, dedupWindow time.Duration, hooks Hooks) *Memory {
	return &Memory{
		nodeID: nodeID,
		hooks:  hooks.withDefaults(nodeID),
		dedup:  NewDedup(dedupWindow),
	}
}

// Login records nothing (the node's own registry is the presence of a cluster of one)
// and calls Hooks.OnOnline when u is its user's first session.
func (m *Memory) Login(u User, first bool) {
	if first {
		m.hooks.OnOnline(u)
	}
}

// Logout records nothing and calls Hooks.OnOffline when u was its user's last session.
func (m *Memory) Logout(u User, last bool) {
	if last {
		m.hooks.OnOffline(u)
	}
}

// Sync returns at once: nothing is queued.
func (m *Memory) Sync(context.Context) error { return nil }

// Lookup finds app/user in the node's registry.
func (m *Memory) Lookup(ctx context.Context, app uint32, user string) (User, bool, error) {
	u, ok := m.hooks.LocalUser(app, user)
	return u, ok, nil
}

// Sessions returns app/user's sessions in the node's registry.
func (m *Memory) Sessions(ctx context.Context, app uint32, user string) ([]User, error) {
	return m.hooks.LocalSessions(app, user), nil
}

// Users returns a page of app's users after cursor.
func (m *Memory) Users(ctx context.Context, app uint32, cursor string, limit int) (Page, error) {
	return PageOf(m.hooks.LocalApp(app), cursor, limit), nil
}

// PageOf cuts a page of at most limit ids after cursor out of sorted ids.
func PageOf(sorted []string, cursor string, limit int) Page {
	p := Page{Total: len(sorted)}
	start := 0
	if cursor != "" {
		start, _ = slices.BinarySearch(sorted, cursor)
		if start < len(sorted) && sorted[start] == cursor {
			start++
		}
	}
	end := min(start+limit, len(sorted))
	p.Users = append([]string{}, sorted[start:end]...)
	if end < len(sorted) {
		p.Next = sorted[end-1]
	}
	return p
}

// Peers returns none: a single node has no peers.
func (m *Memory) Peers() []Node { return nil }

// FreshPeers returns none: a single node has no peers.
func (m *Memory) FreshPeers(context.Context, time.Duration) []Node { return nil }

// Node returns this node when id is its id.
func (m *Memory) Node(id string) (Node, bool) {
	if id != m.nodeID {
		return Node{}, false
	}
	n := m.hooks.Self()
	n.ID = id
	return n, true
}

// Nodes returns this node.
func (m *Memory) Nodes(ctx context.Context) ([]Node, error) {
	n := m.hooks.Self()
	n.ID = m.nodeID
	n.HeartbeatMs = time.Now().UnixMilli()
	m.mu.Lock()
	n.Draining = n.Draining || m.draining
	m.mu.Unlock()
	return []Node{n}, nil
}

// Drain marks the node as draining.
func (m *Memory) Drain(ctx context.Context) error {
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
	return nil
}

// First records app/id and reports whether it is new within the window.
func (m *Memory) First(ctx context.Context, app uint32, id string) bool {
	return m.dedup.First(app, id)
}

// Forget drops app/id.
func (m *Memory) Forget(ctx context.Context, app uint32, id string) { m.dedup.Forget(app, id) }

// Run blocks until ctx is done; Memory has no background work.
func (m *Memory) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}
