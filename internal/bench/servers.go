package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// nodeState is what bench reads of a server node: /system/state's data, or one entry of
// /system/nodes.
type nodeState struct {
	NodeID      string `json:"nodeId"`
	HTTPAddr    string `json:"httpAddr"`
	Connections int64  `json:"connections"`
	Users       int64  `json:"users"`
	RSSBytes    int64  `json:"rssBytes"`
	Cluster     bool   `json:"-"` // listed by /system/nodes: one push reaches every node
}

// key identifies a node across snapshots: its node id within a cluster listing, else the
// URL it was read from (two separate nodes may share an id, e.g. in one test process).
func (n nodeState) key() string {
	if n.Cluster && n.NodeID != "" {
		return n.NodeID
	}
	return n.HTTPAddr
}

// apiReply is the HTTP API's body: {"code","msg","data"}.
type apiReply struct {
	Code int             `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

// errNotFound is returned for a route the server does not have (404 with no JSON code).
var errNotFound = errors.New("route not found")

// serverAPI calls the gows HTTP API. It is safe for concurrent use.
type serverAPI struct {
	client *http.Client
	token  string
}

// apiTimeout bounds every HTTP API call.
const apiTimeout = 10 * time.Second

func newServerAPI(token string) *serverAPI {
	return &serverAPI{client: &http.Client{Timeout: apiTimeout}, token: token}
}

func (a *serverAPI) do(ctx context.Context, method, u string, form url.Values, v any) error {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // body fully read or abandoned; nothing to report
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	var r apiReply
	if err := json.Unmarshal(b, &r); err != nil {
		if resp.StatusCode == http.StatusNotFound {
			return errNotFound
		}
		return fmt.Errorf("%s %s: status %d: not a gows API reply", method, u, resp.StatusCode)
	}
	if resp.StatusCode == http.StatusNotFound && r.Code != 200 {
		return errNotFound
	}
	if r.Code != 200 || resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: status %d code %d: %s", method, u, resp.StatusCode, r.Code, r.Msg)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		return fmt.Errorf("%s %s: decode data: %w", method, u, err)
	}
	return nil
}

// nodes returns the nodes behind base: every node of the cluster when the server has
// /system/nodes, else the one node's /system/state. Each node's URL is its HTTP API.
func (a *serverAPI) nodes(ctx context.Context, base string) ([]nodeState, error) {
	base = strings.TrimRight(base, "/")
	var list struct {
		Nodes []nodeState `json:"nodes"`
	}
	err := a.do(ctx, http.MethodGet, base+"/system/nodes", nil, &list)
	if err == nil && len(list.Nodes) > 0 {
		for i := range list.Nodes {
			list.Nodes[i].Cluster = true
			if list.Nodes[i].HTTPAddr != "" && !strings.Contains(list.Nodes[i].HTTPAddr, "://") {
				list.Nodes[i].HTTPAddr = "http://" + list.Nodes[i].HTTPAddr
			}
		}
		return list.Nodes, nil
	}
	if err != nil && !errors.Is(err, errNotFound) {
		return nil, err
	}
	var st nodeState
	if err := a.do(ctx, http.MethodGet, base+"/system/state", nil, &st); err != nil {
		return nil, err
	}
	st.HTTPAddr = base
	return []nodeState{st}, nil
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
	form := url.Values{
		"appId":   {strconv.FormatUint(uint64(app), 10)},
		"userId":  {"gows-bench"},
		"msgId":   {msgID},
		"message": {msg},
	}
	var r struct {
		Delivered int `json:"delivered"`
	}
	if err := a.do(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/user/sendMessageAll", form, &r); err != nil {
		return 0, err
	}
	return r.Delivered, nil
}

// serverWatch polls the servers' state for the timeline. Its methods are safe for
// concurrent use.
type serverWatch struct {
	mu         sync.Mutex // guards conns and rss
	conns, rss int64
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
		var conns, rss int64
		for _, n := range nodes {
			conns += n.Connections
			rss += n.RSSBytes
		}
		w.mu.Lock()
		w.conns, w.rss = conns, rss
		w.mu.Unlock()
	}
}

func (w *serverWatch) latest() (conns, rss int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.conns, w.rss
}
