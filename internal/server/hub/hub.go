// Package hub tracks the users logged in on this node, their rooms, and fans messages out
// to their local connections. It does no network I/O of its own: delivering a frame is a
// non-blocking Conn.Send.
//
// # Connections per user
//
// A user (app id + user id) may hold several sessions here, up to the hub's limit (see
// New). They form a list through Session.next, newest first, whose head is the value of
// the user's map entry: a user with one connection costs the map entry and nothing
// more, no slice or second allocation. Users are counted once however many sessions
// they hold (Count, AppCount, Users, RoomUsers).
//
// # Locking
//
// Users live in shards, each guarded by its own mutex; rooms likewise. No method holds two
// locks at once, and no lock is held while calling into a Conn: fan-out takes a snapshot of
// the recipients under the lock and sends outside it.
//
// A Session's rooms are touched only by the goroutine that serves that session's requests
// (the server serialises each connection's work), so they need no lock.
package hub

import (
	"cmp"
	"hash/maphash"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gows-dev/gows/internal/protocol"
)

// Conn is what the hub needs of a client connection. *conn.Conn implements it.
type Conn interface {
	// Send queues an encoded frame without blocking; an error means it was not queued.
	Send(frame []byte) error
	// Close starts closing the connection with a WebSocket close code.
	Close(code protocol.CloseCode, reason string)
}

// Session is one connection's login state on this node.
//
// The replaced flag and the failure count share one word so that the struct stays 80
// bytes (one size class) with the next pointer: it is allocated once per connection.
type Session struct {
	conn    Conn
	next    *Session // the user's next older session here; guarded by the user's shard
	user    string
	rooms   []string     // rooms joined; owned by the session's serving goroutine
	loginMs atomic.Int64 // unix milliseconds of the login; 0 when not logged in
	app     uint32
	// flags holds replaced (a newer login of the same user replaced the session) and,
	// in its low 16 bits, the token checks failed in a row (saturating; counted only
	// by the serving goroutine).
	flags atomic.Uint32
}

const (
	replaced  = 1 << 31
	failsMask = math.MaxUint16
)

// NewSession returns the state for a new, not yet logged-in connection.
func NewSession(c Conn) *Session { return &Session{conn: c} }

// Conn returns the session's connection.
func (s *Session) Conn() Conn { return s.conn }

// App returns the app id the session logged in to (0 before login).
func (s *Session) App() uint32 { return s.app }

// User returns the user id the session logged in as ("" before login).
func (s *Session) User() string { return s.user }

// LoginMs returns the login time in unix milliseconds, 0 before login.
func (s *Session) LoginMs() int64 { return s.loginMs.Load() }

// MarkReplaced records that a login of the same user on another node replaced the
// session: the user stays online, so its logout is no one's business.
func (s *Session) MarkReplaced() { s.flags.Or(replaced) }

// Replaced reports whether MarkReplaced was called.
func (s *Session) Replaced() bool { return s.flags.Load()&replaced != 0 }

// LoggedIn reports whether the session has logged in.
func (s *Session) LoggedIn() bool { return s.loginMs.Load() != 0 }

// LoginFailed counts a failed token check (a login or a refresh) and returns how many
// failed in a row. Like the rooms, it belongs to the goroutine serving the session.
func (s *Session) LoginFailed() int {
	for {
		f := s.flags.Load()
		if f&failsMask == failsMask || s.flags.CompareAndSwap(f, f+1) {
			return s.LoginFailures()
		}
	}
}

// LoginSucceeded resets the count of failed token checks.
func (s *Session) LoginSucceeded() { s.flags.And(^uint32(failsMask)) }

// LoginFailures returns how many token checks failed in a row.
func (s *Session) LoginFailures() int { return int(s.flags.Load() & failsMask) }

// Rooms returns the rooms the session has joined.
func (s *Session) Rooms() []string { return s.rooms }

type userKey struct {
	app  uint32
	user string
}

type roomKey struct {
	app  uint32
	room string
}

const shardCount = 64

type userShard struct {
	mu    sync.Mutex           // guards users and the next links of their sessions
	users map[userKey]*Session // the newest session of each user; older ones follow next
}

type roomShard struct {
	mu    sync.Mutex // guards rooms and the member sets in it
	rooms map[roomKey]map[*Session]struct{}
}

// Hub is the node-local registry of logged-in sessions and rooms. It is safe for
// concurrent use.
type Hub struct {
	perUser  int // most sessions of one user; 0: no limit
	seed     maphash.Seed
	users    [shardCount]userShard
	rooms    [shardCount]roomShard
	count    atomic.Int64 // users with a session here
	appMu    sync.Mutex   // guards apps
	apps     map[uint32]int
	sent     atomic.Uint64
	failures atomic.Uint64
}

// New returns an empty hub in which a user holds at most perUser sessions at once (0:
// any number).
func New(perUser int) *Hub {
	h := &Hub{perUser: max(perUser, 0), seed: maphash.MakeSeed(), apps: make(map[uint32]int)}
	for i := range h.users {
		h.users[i].users = make(map[userKey]*Session)
		h.rooms[i].rooms = make(map[roomKey]map[*Session]struct{})
	}
	return h
}

func (h *Hub) userShard(app uint32, user string) *userShard {
	return &h.users[h.hash(app, user)%shardCount]
}

func (h *Hub) roomShard(app uint32, room string) *roomShard {
	return &h.rooms[h.hash(app, room)%shardCount]
}

func (h *Hub) hash(app uint32, s string) uint64 {
	var m maphash.Hash
	m.SetSeed(h.seed)
	var b [4]byte
	b[0], b[1], b[2], b[3] = byte(app), byte(app>>8), byte(app>>16), byte(app>>24)
	_, _ = m.Write(b[:])    // maphash writes never fail
	_, _ = m.WriteString(s) // maphash writes never fail
	return m.Sum64()
}

// Login records s as app/user, logged in at loginMs (unix ms) or, when the user's newest
// session here logged in at or after that, 1 ms after it: a user's sessions here have
// distinct login times, which name them (see Kick). When the user then has more
// sessions than the hub's limit, the oldest are removed from the user and returned,
// oldest first, so the caller can kick them; they leave their rooms at their Logout.
// first reports whether s is the user's only session here. A session that is already
// logged in must Logout first.
func (h *Hub) Login(s *Session, app uint32, user string, loginMs int64) (over []*Session, first bool) {
	over, first, _ = h.login(s, app, user, loginMs, 0)
	return over, first
}

// LoginUnder logs s in as Login does, unless app/user already has most sessions here or
// more (most > 0): then s stays logged out and ok is false. The count and the login are
// one step, so that of two connections of a user logging in at once with room for one,
// one is refused rather than both let in and the older then replaced.
func (h *Hub) LoginUnder(s *Session, app uint32, user string, loginMs int64, most int) (over []*Session, first, ok bool) {
	if most <= 0 {
		return nil, false, false
	}
	return h.login(s, app, user, loginMs, most)
}

func (h *Hub) login(s *Session, app uint32, user string, loginMs int64, most int) (over []*Session, first, ok bool) {
	sh := h.userShard(app, user)
	k := userKey{app, user}
	sh.mu.Lock()
	head := sh.users[k]
	if most > 0 {
		n := 0
		for p := head; p != nil && n < most; p = p.next {
			n++
		}
		if n >= most {
			sh.mu.Unlock()
			return nil, false, false
		}
	}
	if head != nil {
		loginMs = max(loginMs, head.loginMs.Load()+1)
	}
	s.app, s.user, s.next = app, user, head
	s.loginMs.Store(loginMs)
	sh.users[k] = s
	if h.perUser > 0 {
		p := s
		for range h.perUser - 1 {
			if p = p.next; p == nil {
				break
			}
		}
		if p != nil && p.next != nil {
			for o := p.next; o != nil; o = o.next {
				over = append(over, o)
			}
			p.next = nil
			for _, o := range over {
				o.next = nil
			}
			slices.Reverse(over)
		}
	}
	sh.mu.Unlock()
	if head == nil {
		h.count.Add(1)
		h.addApp(app, 1)
	}
	return over, head == nil, true
}

// Logout removes s from the registry and from its rooms. listed reports whether s was
// still one of its user's sessions (false after a newer login replaced it), last
// whether it was the user's last session here.
func (h *Hub) Logout(s *Session) (listed, last bool) {
	if !s.LoggedIn() {
		return false, false
	}
	for _, r := range s.rooms {
		h.leaveRoom(s, r)
	}
	s.rooms = nil
	sh := h.userShard(s.app, s.user)
	k := userKey{s.app, s.user}
	sh.mu.Lock()
	head := sh.users[k]
	switch {
	case head == s && s.next == nil:
		delete(sh.users, k)
		listed, last = true, true
	case head == s:
		sh.users[k] = s.next
		listed = true
	default:
		for p := head; p != nil; p = p.next {
			if p.next == s {
				p.next, listed = s.next, true
				break
			}
		}
	}
	s.next = nil
	s.loginMs.Store(0)
	sh.mu.Unlock()
	if last {
		h.count.Add(-1)
		h.addApp(s.app, -1)
	}
	return listed, last
}

// Lookup returns the newest session of app/user on this node, or nil.
func (h *Hub) Lookup(app uint32, user string) *Session {
	sh := h.userShard(app, user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.users[userKey{app, user}]
}

// Sessions returns the sessions of app/user on this node, newest first.
func (h *Hub) Sessions(app uint32, user string) []*Session {
	sh := h.userShard(app, user)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.sessions(userKey{app, user})
}

// sessions lists k's sessions, newest first. sh.mu must be held.
func (sh *userShard) sessions(k userKey) []*Session {
	var out []*Session
	for p := sh.users[k]; p != nil; p = p.next {
		out = append(out, p)
	}
	return out
}

// Conns returns how many sessions app/user has on this node.
func (h *Hub) Conns(app uint32, user string) int { return len(h.Sessions(app, user)) }

// Count returns the number of users with a session here (each counted once).
func (h *Hub) Count() int { return int(h.count.Load()) }

// Join adds a logged-in session to a room of its app and returns the room's size after.
// Joining a room twice is harmless.
func (h *Hub) Join(s *Session, room string) int {
	sh := h.roomShard(s.app, room)
	k := roomKey{s.app, room}
	sh.mu.Lock()
	m := sh.rooms[k]
	if m == nil {
		m = make(map[*Session]struct{}, 1)
		sh.rooms[k] = m
	}
	_, already := m[s]
	m[s] = struct{}{}
	n := len(m)
	sh.mu.Unlock()
	if !already {
		s.rooms = append(s.rooms, room)
	}
	return n
}

// Leave removes s from a room and reports whether it was a member.
func (h *Hub) Leave(s *Session, room string) bool {
	i := slices.Index(s.rooms, room)
	if i < 0 {
		return false
	}
	s.rooms = slices.Delete(s.rooms, i, i+1)
	if len(s.rooms) == 0 {
		s.rooms = nil
	}
	h.leaveRoom(s, room)
	return true
}

func (h *Hub) leaveRoom(s *Session, room string) {
	sh := h.roomShard(s.app, room)
	k := roomKey{s.app, room}
	sh.mu.Lock()
	if m := sh.rooms[k]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(sh.rooms, k)
		}
	}
	sh.mu.Unlock()
}

// RoomSize returns how many local sessions are in a room (two connections of one user
// that both joined count twice).
func (h *Hub) RoomSize(app uint32, room string) int {
	sh := h.roomShard(app, room)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return len(sh.rooms[roomKey{app, room}])
}

// Rooms returns the number of non-empty rooms on this node.
func (h *Hub) Rooms() int {
	n := 0
	for i := range h.rooms {
		sh := &h.rooms[i]
		sh.mu.Lock()
		n += len(sh.rooms)
		sh.mu.Unlock()
	}
	return n
}

// Users returns the ids of the users of app logged in on this node, sorted.
func (h *Hub) Users(app uint32) []string {
	var out []string
	for i := range h.users {
		sh := &h.users[i]
		sh.mu.Lock()
		for k := range sh.users {
			if k.app == app {
				out = append(out, k.user)
			}
		}
		sh.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

func (h *Hub) addApp(app uint32, d int) {
	h.appMu.Lock()
	if n := h.apps[app] + d; n > 0 {
		h.apps[app] = n
	} else {
		delete(h.apps, app)
	}
	h.appMu.Unlock()
}

// AppCount returns how many users of app are logged in on this node.
func (h *Hub) AppCount(app uint32) int {
	h.appMu.Lock()
	defer h.appMu.Unlock()
	return h.apps[app]
}

// Apps returns the online user count of every app with users on this node.
func (h *Hub) Apps() map[uint32]int {
	h.appMu.Lock()
	defer h.appMu.Unlock()
	out := make(map[uint32]int, len(h.apps))
	for a, n := range h.apps {
		out[a] = n
	}
	return out
}

// RoomUsers returns the ids of the local members of a room, sorted.
func (h *Hub) RoomUsers(app uint32, room string) []string {
	sh := h.roomShard(app, room)
	sh.mu.Lock()
	out := make([]string, 0, len(sh.rooms[roomKey{app, room}]))
	for s := range sh.rooms[roomKey{app, room}] {
		out = append(out, s.user)
	}
	sh.mu.Unlock()
	slices.Sort(out)
	return slices.Compact(out) // a user whose connections both joined is listed once
}

// InRoomElsewhere reports whether another session of s's user here is in room: a
// second connection joining or leaving a room does not change who is in it.
func (h *Hub) InRoomElsewhere(s *Session, room string) bool {
	us := h.userShard(s.app, s.user)
	k := userKey{s.app, s.user}
	var others []*Session
	us.mu.Lock()
	if head := us.users[k]; head != nil && (head != s || s.next != nil) {
		others = us.sessions(k) // only with another session: a lone one allocates nothing
	}
	us.mu.Unlock()
	if len(others) == 0 {
		return false
	}
	sh := h.roomShard(s.app, room)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m := sh.rooms[roomKey{s.app, room}]
	for _, o := range others {
		if _, in := m[o]; in && o != s {
			return true
		}
	}
	return false
}

// SendUser sends frame to every session of app/user on this node and returns how many
// queued it.
func (h *Hub) SendUser(app uint32, user string, frame []byte) int {
	sh := h.userShard(app, user)
	sh.mu.Lock()
	s := sh.users[userKey{app, user}]
	if s != nil && s.next == nil { // one connection: no snapshot to allocate
		sh.mu.Unlock()
		return h.send([]*Session{s}, frame)
	}
	to := sh.sessions(userKey{app, user})
	sh.mu.Unlock()
	return h.send(to, frame)
}

// SendApp sends frame to every session of app on this node, except except's (a user id;
// "" leaves none out), and returns how many queued it. A presence notice leaves out its
// subject: a user is never told that it came or went itself, not by this node and not by
// a notice another node forwards here (such as the enter of a login there that is about
// to replace the user's session here).
func (h *Hub) SendApp(app uint32, frame []byte, except string) int {
	batch := make([]*Session, 0, h.AppCount(app))
	for i := range h.users {
		sh := &h.users[i]
		sh.mu.Lock()
		for k, s := range sh.users {
			if k.app == app && k.user != except { // no user id is ""
				for ; s != nil; s = s.next {
					batch = append(batch, s)
				}
			}
		}
		sh.mu.Unlock()
	}
	return h.send(inConnOrder(batch), frame)
}

// inConnOrder sorts sessions by their connection's number (accept order) when the
// connections are numbered. The kernel and Go allocated each connection's structures in
// that order, so a fan-out that follows it walks memory nearly sequentially instead of
// in the maps' random order: fewer cache and TLB misses per send on a node with many
// connections.
func inConnOrder(ss []*Session) []*Session {
	type numbered interface{ ID() uint64 }
	type keyed struct {
		id uint64
		s  *Session
	}
	if len(ss) < 2 {
		return ss
	}
	if _, ok := ss[0].conn.(numbered); !ok {
		return ss
	}
	ks := make([]keyed, len(ss))
	for i, s := range ss {
		c, ok := s.conn.(numbered)
		if !ok {
			return ss
		}
		ks[i] = keyed{c.ID(), s}
	}
	slices.SortFunc(ks, func(a, b keyed) int { return cmp.Compare(a.id, b.id) })
	for i := range ks {
		ss[i] = ks[i].s
	}
	return ss
}

// SendRoom sends frame to every local member of a room, except except's sessions (see
// SendApp), and returns how many queued it.
func (h *Hub) SendRoom(app uint32, room string, frame []byte, except string) int {
	sh := h.roomShard(app, room)
	sh.mu.Lock()
	m := sh.rooms[roomKey{app, room}]
	batch := make([]*Session, 0, len(m))
	for s := range m {
		// A member's user is read under the room's lock: it changes only at a login,
		// which comes after the session has left every room.
		if s.user != except {
			batch = append(batch, s)
		}
	}
	sh.mu.Unlock()
	return h.send(inConnOrder(batch), frame)
}

func (h *Hub) send(to []*Session, frame []byte) int {
	n := 0
	for _, s := range to {
		if s.conn.Send(frame) == nil {
			n++
		} else {
			h.failures.Add(1)
		}
	}
	h.sent.Add(uint64(n))
	return n
}

// Delivered returns how many frames the hub queued to connections, and how many sends
// failed because the connection was closing or slow.
func (h *Hub) Delivered() (sent, failed uint64) { return h.sent.Load(), h.failures.Load() }
