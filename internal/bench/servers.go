package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gows-dev/gows/internal/admin"
)

// nodeState is what bench reads of a server node.
type nodeState struct {
	NodeID      string
	HTTPAddr    string // base URL of the node's HTTP API
	Connections int64
	Users       int64
	RSSBytes    int64
	PSSBytes    int64 // proportional set size; 0 from servers that do not report it
	Cluster     bool  // listed by /system/nodes: one push reaches every node
}

// key identifies a node across snapshots: its node id within a cluster listing, else the
// URL it was read from (two separate nodes may share an id, e.g. in one test process).
func (n nodeState) key() string {
	if n.Cluster && n.NodeID != "" {
		return n.NodeID
	}
	return n.HTTPAddr
}

// apiTimeout bounds every HTTP API call but the broadcast, which pushTimeout bounds: on a
// loaded machine the cluster's fan-out to every node can take much longer than a read,
// and giving up on the request would cancel the fan-out.
const (
	apiTimeout  = 10 * time.Second
	pushTimeout = 2 * time.Minute
)

// serverAPI reads node state and sends pushes through the gows HTTP API, with one
// admin.Client per server. It is safe for concurrent use; close releases the clients.
type serverAPI struct {
	token   string
	mu      sync.Mutex // guards clients
	clients map[string]*admin.Client
}

func newServerAPI(token string) *serverAPI {
	return &serverAPI{token: token, clients: map[string]*admin.Client{}}
}

func (a *serverAPI) client(base string) (*admin.Client, error) {
	return a.clientWith(base, apiTimeout)
}

// clientWith returns the client for base whose requests time out after timeout.
func (a *serverAPI) clientWith(base string, timeout time.Duration) (*admin.Client, error) {
	key := base + "|" + timeout.String()
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[key]; ok {
		return c, nil
	}
	c, err := admin.New(admin.Config{Server: base, Token: a.token, Timeout: timeout})
	if err != nil {
		return nil, err
	}
	a.clients[key] = c
	return c, nil
}

func (a *serverAPI) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.clients {
		_ = c.Close() // releases idle connections; never fails
	}
	clear(a.clients)
}

// nodes returns the nodes behind base: every node of the cluster when the server has
// /system/nodes, else the one node's /system/state.
func (a *serverAPI) nodes(ctx context.Context, base string) ([]nodeState, error) {
	c, err := a.client(base)
	if err != nil {
		return nil, err
	}
	list, err := c.Nodes(ctx)
	if err != nil {
		return nil, withTokenHint(err)
	}
	out := make([]nodeState, 0, len(list.Nodes))
	for _, n := range list.Nodes {
		st := nodeState{NodeID: n.NodeID, HTTPAddr: base, Connections: n.Connections, Users: n.Users,
			RSSBytes: int64(n.RSSBytes), PSSBytes: int64(n.PSSBytes), Cluster: list.Cluster()}
		if list.Cluster() && n.HTTPAddr != "" {
			st.HTTPAddr = n.HTTPAddr
			if !strings.Contains(st.HTTPAddr, "://") {
				st.HTTPAddr = "http://" + st.HTTPAddr
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// snapshot reads every server's nodes, each node once (see nodeState.key).
func (a *serverAPI) snapshot(ctx context.Context, bases []string) ([]nodeState, error) {
	var out []nodeState
	seen := map[string]bool{}
	var errs []error
	for _, b := range bases {
		ns, err := a.nodes(ctx, b)
		if err != nil {
			errs = append(errs, fmt.Errorf("server %s: %w", b, err))
			continue
		}
		for _, n := range ns {
			if k := n.key(); !seen[k] {
				seen[k] = true
				out = append(out, n)
			}
		}
	}
	return out, errors.Join(errs...)
}

// sendAll asks the server to push msg to every user of app, and returns how many
// connections the server queued it to.
func (a *serverAPI) sendAll(ctx context.Context, base string, app uint32, msgID, msg string) (int, error) {
	c, err := a.clientWith(base, pushTimeout)
	if err != nil {
		return 0, err
	}
	r, err := c.Broadcast(ctx, admin.Message{AppID: app, Text: msg, MsgID: msgID, From: "gows-bench"})
	if err != nil {
		return 0, withTokenHint(err)
	}
	return r.Delivered, nil
}

// withTokenHint adds to a refusal of the server's admin routes the flag that answers it.
func withTokenHint(err error) error {
	ae, ok := errors.AsType[*admin.APIError](err)
	switch {
	case !ok:
	case ae.Status == http.StatusUnauthorized:
		return fmt.Errorf("%w: give bench the server's admin token with --server-token", err)
	case ae.Status == http.StatusForbidden:
		return fmt.Errorf("%w: a server without an admin token answers only clients on its machine; give it one (--admin-token) and bench the same with --server-token", err)
	}
	return err
}

// serverWatch polls the servers' state for the timeline. Its methods are safe for
// concurrent use.
type serverWatch struct {
	mu              sync.Mutex // guards conns, rss and pss
	conns, rss, pss int64
}

// run polls every interval until stop is closed or ctx is done. A failed poll keeps the
// previous figures; the peak snapshot reports errors.
func (w *serverWatch) run(ctx context.Context, api *serverAPI, bases []string, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		nodes, err := api.snapshot(ctx, bases)
		if err != nil {
			continue
		}
		var conns, rss, pss int64
		for _, n := range nodes {
			conns += n.Connections
			rss += n.RSSBytes
			pss += n.PSSBytes
		}
		w.mu.Lock()
		w.conns, w.rss, w.pss = conns, rss, pss
		w.mu.Unlock()
	}
}

func (w *serverWatch) latest() (conns, rss, pss int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conns, w.rss, w.pss
}
