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
	two := func(c *RedisConfig) { c.ConnsPerUser = 2 }
	a := startNode(t, []string{r.Addr}, "t-multi", "node-a", two)
	b := startNode(t, []string{r.Addr}, "t-multi", "node-b", two)
	waitPeers(t, a, "node-b")
	waitPeers(t, b, "node-a")
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
	select {
	case tk := <-a.takeovers:
		if tk.old != a1 || tk.by != a2 {
			t.Fatalf("takeover %+v, want old %+v by %+v", tk, a1, a2)
		}
	case <-time.After(testWait):
		t.Fatal("no takeover reported for the oldest session")
	}
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
