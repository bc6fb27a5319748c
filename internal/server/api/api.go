// Package api serves gows' HTTP API for business systems: online queries, user lists,
// pushes to a user, a room or a whole app, and node state. Answers keep the gowebsocket
// seed's body shape {"code","msg","data"} and also carry a matching HTTP status.
package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
)

// Errors a Backend returns; the API maps them to codes and statuses.
var (
	// ErrNotOnline: the target user is not online (1005, HTTP 404).
	ErrNotOnline = errors.New("user is not online")
	// ErrUnavailable: a cluster-wide operation cannot be done now (1009, HTTP 503).
	ErrUnavailable = errors.New("cluster unavailable")
)

// ParamError is a missing or malformed request parameter (1001, HTTP 400; 413 for a
// body above the size limit, 415 for a body of a type the API does not read).
type ParamError struct {
	Field  string
	Msg    string
	status int // the HTTP status; 0 means 400
}

func (e *ParamError) Error() string { return e.Field + ": " + e.Msg }

// Target says who a push goes to.
type Target int

// Push targets.
const (
	ToUser Target = iota
	ToRoom
	ToApp
)

func (t Target) String() string {
	switch t {
	case ToUser:
		return "user"
	case ToRoom:
		return "room"
	default:
		return "app"
	}
}

// Push is one message to deliver.
type Push struct {
	Target Target
	AppID  uint32
	UserID string // ToUser: the recipient
	Room   string // ToRoom: the room
	MsgID  string // "" lets the server pick one; a repeat within the dedup window is not delivered again
	From   string // sender user id, "" for the system
	Type   string // message type, "text" by default
	Msg    string
}

// PushResult is the outcome of a Push.
type PushResult struct {
	MsgID     string `json:"msgId"`
	Delivered int    `json:"delivered"`           // connections the message was queued to
	Duplicate bool   `json:"duplicate,omitempty"` // msgId seen within the dedup window: not delivered again
	// NodesFailed counts the nodes a room or app push could not reach within the
	// deadline (their logs name them); Delivered counts the others' connections.
	NodesFailed int `json:"nodesFailed,omitempty"`
}

// Presence describes an online user.
type Presence struct {
	AppID   uint32 `json:"appId"`
	UserID  string `json:"userId"`
	Online  bool   `json:"online"`
	NodeID  string `json:"nodeId,omitempty"`
	Addr    string `json:"addr,omitempty"`    // client address as the node saw it
	LoginAt string `json:"loginAt,omitempty"` // RFC 3339
	// NodeID, Addr and LoginAt describe the user's newest connection; Connections counts
	// all of them, on the nodes listed in Nodes (sorted).
	Connections int      `json:"connections,omitempty"`
	Nodes       []string `json:"nodes,omitempty"`
}

// UserPage is one page of an app's (or room's) online users, sorted by user id.
type UserPage struct {
	UserCount  int      `json:"userCount"` // all online users of the app (or room)
	UserList   []string `json:"userList"`
	NextCursor string   `json:"nextCursor,omitempty"` // pass as cursor for the next page; "" at the end
	// NodesFailed counts, for a room, the nodes that did not answer within the deadline:
	// their members are missing from the list. Room membership is asked of every node.
	NodesFailed int `json:"nodesFailed,omitempty"`
}

// State is a node's state as /system/state reports it.
type State struct {
	NodeID            string       `json:"nodeId"`
	Version           string       `json:"version"`
	StartedAt         string       `json:"startedAt"` // RFC 3339
	UptimeMs          int64        `json:"uptimeMs"`
	Connections       int64        `json:"connections"` // upgraded WebSocket connections
	Handshaking       int64        `json:"handshaking"` // accepted sockets not yet upgraded
	Users             int          `json:"users"`       // logged-in users on this node
	Rooms             int          `json:"rooms"`
	Goroutines        int          `json:"goroutines"`
	HeapBytes         uint64       `json:"heapBytes"`
	RSSBytes          uint64       `json:"rssBytes"`
	PSSBytes          uint64       `json:"pssBytes"` // proportional set size: adds up across processes sharing the binary
	MaxConns          int          `json:"maxConns"`
	MessagesIn        uint64       `json:"messagesIn"`  // WebSocket messages received
	MessagesOut       uint64       `json:"messagesOut"` // WebSocket frames given to connections (Dropped of them never written)
	Pushes            uint64       `json:"pushes"`      // accepted push requests (HTTP and WebSocket send)
	Dropped           uint64       `json:"dropped"`     // frames never written: discarded with a slow consumer's queue, or queued when a connection closed
	SlowConsumers     uint64       `json:"slowConsumers"`
	HandshakeFailures uint64       `json:"handshakeFailures"`
	Draining          bool         `json:"draining"`
	Cluster           ClusterState `json:"cluster"`
}

// ClusterState is a node's view of its cluster.
type ClusterState struct {
	Mode    string `json:"mode"`              // "single" (no Redis) or "redis"
	Nodes   int    `json:"nodes"`             // live nodes this node routes to, itself included
	RedisUp *bool  `json:"redisUp,omitempty"` // the last Redis call succeeded (redis mode)
}

// NodeState is one live node as /system/nodes lists it. Other nodes' counts are from
// their last registry renewal (at most a third of the node TTL old).
type NodeState struct {
	NodeID      string `json:"nodeId"`
	Version     string `json:"version,omitempty"`
	HTTPAddr    string `json:"httpAddr,omitempty"`
	GRPCAddr    string `json:"grpcAddr,omitempty"`
	StartedAt   string `json:"startedAt"`             // RFC 3339
	HeartbeatAt string `json:"heartbeatAt,omitempty"` // RFC 3339, last registry renewal
	Connections int64  `json:"connections"`
	Users       int64  `json:"users"`
	RSSBytes    uint64 `json:"rssBytes"`
	PSSBytes    uint64 `json:"pssBytes"`
	Draining    bool   `json:"draining"`
	Self        bool   `json:"self,omitempty"` // the node that answered
	Live        bool   `json:"live"`           // the counts were read from the node now, not from its last renewal
}

// Backend is what the API needs from the server.
type Backend interface {
	Online(ctx context.Context, app uint32, user string) (Presence, error)
	Users(ctx context.Context, app uint32, room, cursor string, limit int) (UserPage, error)
	Push(ctx context.Context, p Push) (PushResult, error)
	State(ctx context.Context) State
	Nodes(ctx context.Context) ([]NodeState, error)                         // live nodes of the cluster; ErrUnavailable if unknown
	Kick(ctx context.Context, app uint32, user, reason string) (int, error) // connections closed; ErrNotOnline if none
}

// Config configures the API handler.
type Config struct {
	// RequestTimeout bounds each request's work; 0 means 5s.
	RequestTimeout time.Duration
	// MaxBodyBytes caps request bodies; 0 means 1 MiB.
	MaxBodyBytes int64
	// Ready reports whether the node should receive traffic (/readyz).
	Ready func() bool
}

// Handler serves the API routes. Mount it on a mux with other handlers (chat page, metrics).
type Handler struct {
	cfg Config
	b   Backend
	mux *http.ServeMux
}

// New returns the API handler for b.
func New(cfg Config, b Backend) *Handler {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	h := &Handler{cfg: cfg, b: b, mux: http.NewServeMux()}
	h.mux.HandleFunc("/user/list", h.get(h.users(false)))
	h.mux.HandleFunc("/user/online", h.get(h.userOnline))
	h.mux.HandleFunc("/user/sendMessage", h.post(h.send(ToUser)))
	h.mux.HandleFunc("/user/sendMessageAll", h.post(h.send(ToApp)))
	h.mux.HandleFunc("/room/sendMessage", h.post(h.send(ToRoom)))
	h.mux.HandleFunc("/room/users", h.get(h.users(true)))
	h.mux.HandleFunc("/system/state", h.get(h.state))
	h.mux.HandleFunc("/system/nodes", h.get(h.nodes))
	h.mux.HandleFunc("/user/kick", h.post(h.kick))
	h.mux.HandleFunc("/healthz", h.get(func(w http.ResponseWriter, r *http.Request, p params) {
		writeOK(w, map[string]string{"status": "ok"})
	}))
	h.mux.HandleFunc("/readyz", h.get(h.readyz))
	return h
}

// Routes lists the paths the handler serves, for mounting.
func (h *Handler) Routes() []string {
	return []string{"/user/list", "/user/online", "/user/sendMessage", "/user/sendMessageAll",
		"/room/sendMessage", "/room/users", "/system/state", "/system/nodes", "/healthz", "/readyz", "/user/kick"}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request, p params)

// get wraps a read route: GET (or HEAD, or POST for seed clients) with parameters from
// the query string or body.
func (h *Handler) get(f handlerFunc) http.HandlerFunc { return h.wrap(f, false) }

// post wraps a write route: POST only.
func (h *Handler) post(f handlerFunc) http.HandlerFunc { return h.wrap(f, true) }

func (h *Handler) wrap(f handlerFunc, postOnly bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if postOnly && r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, protocol.RoutingNotExist, "use POST")
			return
		}
		if !postOnly && r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeError(w, http.StatusMethodNotAllowed, protocol.RoutingNotExist, "use GET")
			return
		}
		p, err := parseParams(w, r, h.cfg.MaxBodyBytes)
		if err != nil {
			writeErr(w, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
		defer cancel()
		f(w, r.WithContext(ctx), p)
	}
}

// users serves a page of an app's online users, or of a room's with inRoom.
func (h *Handler) users(inRoom bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) {
		app, err := p.appID()
		room := ""
		if err == nil && inRoom {
			room, err = p.room()
		}
		limit := 0
		if err == nil {
			limit, err = p.limit()
		}
		var page UserPage
		if err == nil {
			page, err = h.b.Users(r.Context(), app, room, p.get("cursor"), limit)
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		writeOK(w, page)
	}
}

func (h *Handler) userOnline(w http.ResponseWriter, r *http.Request, p params) {
	app, user, err := p.appUser()
	if err != nil {
		writeErr(w, err)
		return
	}
	pr, err := h.b.Online(r.Context(), app, user)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeOK(w, pr)
}

// send serves the push route of target t.
func (h *Handler) send(t Target) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p params) {
		push, err := p.push(t)
		if err != nil {
			writeErr(w, err)
			return
		}
		h.push(w, r, push)
	}
}

func (h *Handler) push(w http.ResponseWriter, r *http.Request, p Push) {
	res, err := h.b.Push(r.Context(), p)
	if err != nil {
		if errors.Is(err, ErrNotOnline) {
			writeBody(w, http.StatusNotFound, protocol.NotData, fmt.Sprintf("user %s is not online", p.UserID), res)
			return
		}
		writeErr(w, err)
		return
	}
	writeOK(w, res)
}

func (h *Handler) state(w http.ResponseWriter, r *http.Request, p params) {
	writeOK(w, h.b.State(r.Context()))
}

// NodeList is the answer of /system/nodes.
type NodeList struct {
	Mode  string      `json:"mode"` // "single" (no Redis: the list is this node) or "redis"
	Nodes []NodeState `json:"nodes"`
}

// nodes lists the cluster's live nodes; a single node lists itself.
func (h *Handler) nodes(w http.ResponseWriter, r *http.Request, p params) {
	ns, err := h.b.Nodes(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeOK(w, NodeList{Mode: h.b.State(r.Context()).Cluster.Mode, Nodes: ns})
}

func (h *Handler) readyz(w http.ResponseWriter, r *http.Request, p params) {
	if h.cfg.Ready != nil && !h.cfg.Ready() {
		writeError(w, http.StatusServiceUnavailable, protocol.OperationFailure, "not ready")
		return
	}
	writeOK(w, map[string]string{"status": "ready"})
}

// writeErr maps an error to its code and status.
func writeErr(w http.ResponseWriter, err error) {
	var pe *ParamError
	switch {
	case errors.As(err, &pe):
		writeError(w, cmp.Or(pe.status, http.StatusBadRequest), protocol.ParameterIllegal, pe.Error())
	case errors.Is(err, ErrNotOnline):
		writeError(w, http.StatusNotFound, protocol.NotData, err.Error())
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, protocol.OperationFailure, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, protocol.OperationFailure, "timed out: "+err.Error())
	default:
		writeError(w, http.StatusInternalServerError, protocol.ServerError, err.Error())
	}
}
