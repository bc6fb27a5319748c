package hub

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/gows-dev/gows/internal/protocol"
)

// recConn is a Conn that records frames; full makes Send fail like a slow consumer.
type recConn struct {
	mu     sync.Mutex
	frames [][]byte
	closed protocol.CloseCode
	full   bool
}

func (c *recConn) Send(f []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.full {
		return errors.New("queue full")
	}
	c.frames = append(c.frames, f)
	return nil
}

func (c *recConn) Close(code protocol.CloseCode, reason string) {
	c.mu.Lock()
	c.closed = code
	c.mu.Unlock()
}

func (c *recConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

func login(t *testing.T, h *Hub, app uint32, user string) (*Session, *recConn) {
	t.Helper()
	c := &recConn{}
	s := NewSession(c)
	if over, _ := h.Login(s, app, user, 1); over != nil {
		t.Fatalf("unexpected replaced session for %s", user)
	}
	return s, c
}

func TestHub_LoginReplacesAndLogoutKeepsNewer(t *testing.T) {
	h := New(1)
	old, _ := login(t, h, 101, "u1")
	newer := NewSession(&recConn{})
	if got, first := h.Login(newer, 101, "u1", 2); len(got) != 1 || got[0] != old || first {
		t.Fatalf("Login returned %v (first %v), want the old session", got, first)
	}
	if h.Count() != 1 || h.AppCount(101) != 1 {
		t.Fatalf("count %d app %d, want 1 and 1", h.Count(), h.AppCount(101))
	}
	if listed, _ := h.Logout(old); listed {
		t.Fatal("logging out the replaced session reported it as current")
	}
	if h.Lookup(101, "u1") != newer {
		t.Fatal("the replaced session's logout removed the newer one")
	}
	if listed, last := h.Logout(newer); !listed || !last || h.Count() != 0 || h.AppCount(101) != 0 || h.Lookup(101, "u1") != nil {
		t.Fatal("logout of the current session did not remove it")
	}
}

// TestHub_SeveralSessionsPerUser: with a limit of 2 a user holds two sessions, both
// receive, the user is counted and listed once, a third login removes the oldest, the
// login times stay distinct, and the user leaves only with its last session.
func TestHub_SeveralSessionsPerUser(t *testing.T) {
	h := New(2)
	a, ca := login(t, h, 101, "u1")
	b, cb := NewSession(&recConn{}), (*recConn)(nil)
	cb = b.conn.(*recConn)
	if over, first := h.Login(b, 101, "u1", 1); over != nil || first {
		t.Fatalf("second login: over %v first %v, want none and false", over, first)
	}
	if a.LoginMs() == b.LoginMs() {
		t.Fatalf("two sessions share login time %d", a.LoginMs())
	}
	if h.Count() != 1 || h.AppCount(101) != 1 || !slices.Equal(h.Users(101), []string{"u1"}) || h.Conns(101, "u1") != 2 {
		t.Fatalf("count %d app %d users %v conns %d, want the user once with 2 connections",
			h.Count(), h.AppCount(101), h.Users(101), h.Conns(101, "u1"))
	}
	if n := h.SendUser(101, "u1", []byte("x")); n != 2 || ca.count() != 1 || cb.count() != 1 {
		t.Fatalf("SendUser reached %d (a %d b %d), want both", n, ca.count(), cb.count())
	}
	if n := h.SendApp(101, []byte("y"), ""); n != 2 {
		t.Fatalf("SendApp reached %d, want 2", n)
	}
	h.Join(a, "r")
	h.Join(b, "r")
	if got := h.RoomUsers(101, "r"); !slices.Equal(got, []string{"u1"}) {
		t.Fatalf("room users %v, want u1 once", got)
	}
	if !h.InRoomElsewhere(a, "r") {
		t.Fatal("a's user has b in the room too")
	}
	c := NewSession(&recConn{})
	over, first := h.Login(c, 101, "u1", 1)
	if len(over) != 1 || over[0] != a || first {
		t.Fatalf("third login removed %v (first %v), want the oldest session", over, first)
	}
	if got := h.Sessions(101, "u1"); len(got) != 2 || got[0] != c || got[1] != b {
		t.Fatalf("sessions %v, want c then b", got)
	}
	if listed, _ := h.Logout(a); listed {
		t.Fatal("the removed session was still listed")
	}
	if listed, last := h.Logout(b); !listed || last || h.Count() != 1 {
		t.Fatalf("logout of b: listed %v last %v count %d, want listed, not last, 1", listed, last, h.Count())
	}
	if listed, last := h.Logout(c); !listed || !last || h.Count() != 0 || h.Lookup(101, "u1") != nil {
		t.Fatalf("logout of c: listed %v last %v count %d, want the user gone", listed, last, h.Count())
	}
}

func TestHub_NoLimit(t *testing.T) {
	h := New(0)
	for i := range 50 {
		if over, first := h.Login(NewSession(&recConn{}), 101, "u1", 1); over != nil || first != (i == 0) {
			t.Fatalf("login %d: over %v first %v", i, over, first)
		}
	}
	if n := h.SendUser(101, "u1", []byte("x")); n != 50 || h.Count() != 1 {
		t.Fatalf("sent to %d of 50 sessions, count %d", n, h.Count())
	}
}

// LoginUnder lets a session in only while the user has fewer than most sessions here,
// and a refused session stays logged out.
func TestHub_LoginUnder(t *testing.T) {
	h := New(3)
	for i := range 2 {
		if _, first, ok := h.LoginUnder(NewSession(&recConn{}), 101, "u1", 1, 2); !ok || first != (i == 0) {
			t.Fatalf("login %d under 2: ok %v first %v", i, ok, first)
		}
	}
	s := NewSession(&recConn{})
	if over, _, ok := h.LoginUnder(s, 101, "u1", 1, 2); ok || over != nil || s.LoggedIn() {
		t.Fatalf("third login under 2: ok %v over %v logged in %v", ok, over, s.LoggedIn())
	}
	if _, _, ok := h.LoginUnder(s, 101, "u2", 1, 0); ok || s.LoggedIn() {
		t.Fatal("a login under 0 was let in")
	}
	if _, first, ok := h.LoginUnder(s, 101, "u2", 1, 1); !ok || !first || h.Conns(101, "u1") != 2 || h.Count() != 2 {
		t.Fatalf("u2 under 1: ok %v first %v; u1 conns %d, users %d", ok, first, h.Conns(101, "u1"), h.Count())
	}
}

func TestHub_SessionSize(t *testing.T) {
	// 80 bytes is a size class of its own: one more field that is not paid for by
	// another's space moves every connection's session to 96.
	if got := unsafe.Sizeof(Session{}); got > 80 {
		t.Fatalf("Session is %d bytes, want at most 80", got)
	}
}

func TestHub_RoomsAndLists(t *testing.T) {
	h := New(1)
	a, ca := login(t, h, 101, "alice")
	b, cb := login(t, h, 101, "bob")
	_, cc := login(t, h, 102, "carol")
	if n := h.Join(a, "r"); n != 1 {
		t.Fatalf("join size %d", n)
	}
	if n := h.Join(b, "r"); n != 2 {
		t.Fatalf("join size %d", n)
	}
	if n := h.Join(b, "r"); n != 2 || len(b.Rooms()) != 1 {
		t.Fatalf("second join changed things: size %d rooms %v", n, b.Rooms())
	}
	if got := h.RoomUsers(101, "r"); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("room users %v", got)
	}
	if got := h.Users(101); !slices.Equal(got, []string{"alice", "bob"}) {
		t.Fatalf("users %v", got)
	}
	if n := h.SendRoom(101, "r", []byte("x"), "alice"); n != 1 || ca.count() != 0 || cb.count() != 1 {
		t.Fatalf("room send %d (alice %d bob %d)", n, ca.count(), cb.count())
	}
	if n := h.SendApp(101, []byte("y"), ""); n != 2 || cc.count() != 0 {
		t.Fatalf("app send %d, carol got %d", n, cc.count())
	}
	if !h.Leave(a, "r") || h.Leave(a, "r") || h.RoomSize(101, "r") != 1 {
		t.Fatal("leave")
	}
	h.Logout(b)
	if h.RoomSize(101, "r") != 0 || h.Rooms() != 0 {
		t.Fatal("logout did not leave rooms")
	}
}

func TestHub_SendCountsFailures(t *testing.T) {
	h := New(1)
	_, c := login(t, h, 101, "slow")
	c.full = true
	if h.SendUser(101, "slow", []byte("x")) != 0 {
		t.Fatal("a failed send reported success")
	}
	if h.SendUser(101, "nobody", []byte("x")) != 0 {
		t.Fatal("send to an unknown user reported success")
	}
	if sent, failed := h.Delivered(); sent != 0 || failed != 1 {
		t.Fatalf("delivered %d failed %d", sent, failed)
	}
}

func TestHub_ConcurrentUse(t *testing.T) {
	h := New(1)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				s := NewSession(&recConn{})
				h.Login(s, 101, fmt.Sprintf("w%d-u%d", w, i), 1)
				h.Join(s, "room")
				sent.Add(int64(h.SendRoom(101, "room", []byte("m"), "")))
				_ = h.Users(101)
				if i%2 == 0 {
					h.Logout(s)
				}
			}
		}()
	}
	wg.Wait()
	if h.Count() != 800 || h.AppCount(101) != 800 || h.RoomSize(101, "room") != 800 {
		t.Fatalf("count %d app %d room %d, want 800", h.Count(), h.AppCount(101), h.RoomSize(101, "room"))
	}
	if sent.Load() == 0 {
		t.Fatal("no room sends")
	}
}

// nopConn accepts every frame.
type nopConn struct{}

func (nopConn) Send([]byte) error                { return nil }
func (nopConn) Close(protocol.CloseCode, string) {}

// idConn is a numbered nopConn, as the engine's connections are.
type idConn struct {
	nopConn
	id uint64
}

func (c idConn) ID() uint64 { return c.id }

// BenchmarkHub_SendApp measures fan-out of one pre-encoded frame to 10,000 local sessions
// (the hub's share of a broadcast, sorting them into connection order included; socket
// writes are not).
func BenchmarkHub_SendApp(b *testing.B) {
	h := New(1)
	for i := range 10000 {
		h.Login(NewSession(idConn{id: uint64(i)}), 101, fmt.Sprint("u", i), 1)
	}
	frame := []byte("frame")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if n := h.SendApp(101, frame, ""); n != 10000 {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/recipient")
}

// BenchmarkHub_Login measures registering and removing a user.
func BenchmarkHub_Login(b *testing.B) {
	h := New(1)
	ids := make([]string, 1024)
	for i := range ids {
		ids[i] = fmt.Sprint("user-", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		s := NewSession(nopConn{})
		h.Login(s, 101, ids[i%len(ids)], 1)
		h.Logout(s)
	}
}

// numberedConn is a Conn with an accept number that logs the order of sends.
type numberedConn struct {
	id  uint64
	log *[]uint64
}

func (c *numberedConn) ID() uint64                              { return c.id }
func (c *numberedConn) Send([]byte) error                       { *c.log = append(*c.log, c.id); return nil }
func (c *numberedConn) Close(code protocol.CloseCode, _ string) {}

func TestHub_FanOutFollowsConnectionOrder(t *testing.T) {
	h := New(1)
	var order []uint64
	const n = 500
	for i := range n {
		id := uint64((i*7919)%n + 1) // logged in out of order
		s := NewSession(&numberedConn{id: id, log: &order})
		h.Login(s, 101, fmt.Sprintf("u%d", id), 1)
		h.Join(s, "lobby")
	}
	for _, send := range []func() int{
		func() int { return h.SendApp(101, []byte("x"), "") },
		func() int { return h.SendRoom(101, "lobby", []byte("x"), "") },
	} {
		order = order[:0]
		if got := send(); got != n || len(order) != n {
			t.Fatalf("sent %d (%d logged); want %d", got, len(order), n)
		}
		if !slices.IsSorted(order) {
			t.Fatalf("fan-out order is not the connections' order: %v", order[:20])
		}
	}
}

// A presence notice about a user reaches the others but never that user's own session,
// even when the sender names no session to skip (a notice another node forwarded).
// A send that leaves a user out (a presence notice about that user) reaches everyone
// else of the app or room; "" leaves nobody out.
func TestHub_SendLeavesOutAUser(t *testing.T) {
	tests := []struct {
		name      string
		room      string
		except    string
		wantSelf  int // frames u1 gets
		wantOther int // frames u2 gets
	}{
		{name: "app, except u1", except: "u1", wantOther: 1},
		{name: "room, except u1", room: "r", except: "u1", wantOther: 1},
		{name: "app, nobody left out", wantSelf: 1, wantOther: 1},
		{name: "room, nobody left out", room: "r", wantSelf: 1, wantOther: 1},
		{name: "app, except a user not here", except: "u3", wantSelf: 1, wantOther: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New(1)
			s1, c1 := login(t, h, 101, "u1")
			s2, c2 := login(t, h, 101, "u2")
			var n int
			if tt.room == "" {
				n = h.SendApp(101, []byte("x"), tt.except)
			} else {
				h.Join(s1, tt.room)
				h.Join(s2, tt.room)
				n = h.SendRoom(101, tt.room, []byte("x"), tt.except)
			}
			if c1.count() != tt.wantSelf || c2.count() != tt.wantOther || n != tt.wantSelf+tt.wantOther {
				t.Fatalf("u1 got %d, u2 got %d, sent %d; want %d, %d", c1.count(), c2.count(), n, tt.wantSelf, tt.wantOther)
			}
		})
	}
}

// A broadcast is serialised once: SendApp and SendRoom hand every connection the caller's
// frame itself, the same bytes, never a copy or a re-encoding per recipient.
func TestHub_BroadcastSharesOneFrame(t *testing.T) {
	h := New(1)
	var conns []*recConn
	for i := range 50 {
		s, c := login(t, h, 101, fmt.Sprint("u", i))
		h.Join(s, "r")
		conns = append(conns, c)
	}
	appFrame, roomFrame := []byte("app frame"), []byte("room frame")
	if n := h.SendApp(101, appFrame, ""); n != len(conns) {
		t.Fatalf("SendApp reached %d of %d", n, len(conns))
	}
	if n := h.SendRoom(101, "r", roomFrame, ""); n != len(conns) {
		t.Fatalf("SendRoom reached %d of %d", n, len(conns))
	}
	for i, c := range conns {
		c.mu.Lock()
		frames := slices.Clone(c.frames)
		c.mu.Unlock()
		if len(frames) != 2 || &frames[0][0] != &appFrame[0] || &frames[1][0] != &roomFrame[0] {
			t.Fatalf("connection %d got %d frames, not the broadcast's own two byte slices", i, len(frames))
		}
	}
}
