package cluster_test

import (
	"fmt"
	"testing"
	"time"

	. "github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/testutil"
)

// TestRedis_SeveralSessionsPerUser: with ConnsPerUser 2 a user's records on two nodes
// are both found, a third login drops exactly the oldest and reports it, a logout
// removes only its own record, and the cleanup of a dead node removes only that node's
// records.
func TestRedis_SeveralSessionsPerUser(t *testing.T) {
	r := testutil.StartRedis(t)
	a, b := twoSessionNodes(t, r, "t-multi")
	u := func(node string, ms int64) User {
		return User{App: 101, ID: "u1", Node: node, LoginMs: ms, Addr: "127.0.0.1:1"}
	}
	sessions := func(n *node) []User {
		t.Helper()
		us, err := n.Sessions(t.Context(), 101, "u1")
		if err != nil {
			t.Fatal(err)
		}
		return us
	}
	wantSessions := func(n *node, want ...User) {
		t.Helper()
		testutil.Eventually(t, testWait, func() error {
			got := sessions(n)
			if len(got) != len(want) {
				return fmt.Errorf("sessions %+v, want %+v", got, want)
			}
			for i := range got {
				if got[i] != want[i] {
					return fmt.Errorf("sessions %+v, want %+v", got, want)
				}
			}
			return nil
		})
	}

	a1, b1, a2 := u("node-a", 100), u("node-b", 200), u("node-a", 300)
	a.WriteLogins(t.Context(), []User{a1})
	b.WriteLogins(t.Context(), []User{b1})
	wantSessions(a, a1, b1)
	select {
	case tk := <-a.takeovers:
		t.Fatalf("takeover %+v within the limit", tk)
	case tk := <-b.takeovers:
		t.Fatalf("takeover %+v within the limit", tk)
	default:
	}
	a.WriteLogins(t.Context(), []User{a2})
	wantTakeover(t, a, a1, a2)
	wantSessions(b, b1, a2)
	if got, ok := lookup(t, b, 101, "u1"); !ok || got != a2 {
		t.Fatalf("lookup %+v, want the newest %+v", got, a2)
	}
	// b1's logout removes only b1. (The late logout of a1 on node-a is left out: its
	// node set keeps u1 only because the hub, which this test has not, says a2 is there.)
	b.WriteBatch(t.Context(), []BatchOp{{U: b1}})
	wantSessions(a, a2)
	b.WriteLogins(t.Context(), []User{b1})
	wantSessions(a, a2, b1)

	// node-a dies: its cleanup leaves node-b's record.
	if err := b.RemoveDead(t.Context(), "node-a"); err != nil {
		t.Fatal(err)
	}
	// The value format is docs/cluster.md's: one "node|loginMs|addr" per session.
	if got, err := r.Command(time.Second, "HGET", "t-multi:{a101}:users", "u1"); err != nil || got != "node-b|200|127.0.0.1:1" {
		t.Fatalf("record after node-a's cleanup %q (%v), want node-b's alone", got, err)
	}
}

// TestRedis_OnlineAndOfflineAreClusterWide: with ConnsPerUser 2, the write of u1's first
// session (on node-a) reports it online and that of its second (on node-b) does not; the
// logout of either but the last reports nothing, that of the last reports it offline.
// While Redis cannot be written, the node's own view decides.
func TestRedis_OnlineAndOfflineAreClusterWide(t *testing.T) {
	r := testutil.StartRedis(t)
	a, b := twoSessionNodes(t, r, "t-presence")
	a1 := User{App: 101, ID: "u1", Node: "node-a", LoginMs: 100}
	b1 := User{App: 101, ID: "u1", Node: "node-b", LoginMs: 200}
	told := func(n *node, want string) {
		t.Helper()
		select { // WriteBatch calls the hooks before it returns
		case got := <-n.presence:
			if got != want {
				t.Fatalf("%s told %q, want %q", n.Config().NodeID, got, want)
			}
		default:
			if want != "" {
				t.Fatalf("%s told nothing, want %q", n.Config().NodeID, want)
			}
		}
	}
	a.WriteBatch(t.Context(), []BatchOp{{Login: true, U: a1, Local: true}})
	told(a, "online u1")
	b.WriteBatch(t.Context(), []BatchOp{{Login: true, U: b1, Local: true}}) // first on node-b only
	told(b, "")
	a.WriteBatch(t.Context(), []BatchOp{{U: a1, Local: true}}) // last on node-a only
	told(a, "")
	b.WriteBatch(t.Context(), []BatchOp{{U: b1, Local: true}})
	told(b, "offline u1")
	// A logout whose record is gone (replaced meanwhile) reports nothing.
	b.WriteBatch(t.Context(), []BatchOp{{U: b1, Local: true}})
	told(b, "")

	r.Kill()
	a.WriteBatch(t.Context(), []BatchOp{{Login: true, U: a1, Local: true}, {Login: true, U: User{App: 101, ID: "u2", Node: "node-a", LoginMs: 300}}})
	told(a, "online u1")
	told(a, "")
}

// twoSessionNodes starts node-a and node-b with ConnsPerUser 2 on r (keys under prefix)
// and waits until each sees the other.
func twoSessionNodes(t *testing.T, r *testutil.Redis, prefix string) (a, b *node) {
	t.Helper()
	two := func(c *RedisConfig) { c.ConnsPerUser = 2 }
	a = startNode(t, []string{r.Addr}, prefix, "node-a", two)
	b = startNode(t, []string{r.Addr}, prefix, "node-b", two)
	waitPeers(t, a, "node-b")
	waitPeers(t, b, "node-a")
	return a, b
}
