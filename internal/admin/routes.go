package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
)

// data keeps an answer's data exactly as the server sent it. Result types embed it.
type data struct{ raw json.RawMessage }

// Raw returns the answer's data exactly as the server sent it, for output to scripts.
func (d data) Raw() json.RawMessage { return d.raw }

// UserPage is one page of online user ids, sorted; NextCursor is "" on the last page.
type UserPage struct {
	api.UserPage
	data
}

// Presence says whether a user is online and, if so, on which node since when.
type Presence struct {
	api.Presence
	data
}

// LoginTime returns the login time, or the zero time when offline or not reported.
func (p Presence) LoginTime() time.Time { return parseTime(p.LoginAt) }

// parseTime reads an RFC 3339 time the server sent; "" or a malformed one is the zero
// time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// uptime is how long a node has run: ms (its uptimeMs) when the server sent it, else
// the time from startedAt to now; 0 when neither is known or startedAt is not before now
// (the node's clock is ahead of this machine's).
func uptime(ms int64, startedAt string, now time.Time) time.Duration {
	if ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	t := parseTime(startedAt)
	if t.IsZero() || !now.After(t) {
		return 0
	}
	return now.Sub(t)
}

// PushResult is the outcome of a push: its message id, how many connections it was
// queued to, and whether it was a duplicate within the dedup window (not delivered again).
type PushResult struct {
	api.PushResult
	data
}

// KickResult is the outcome of a kick: how many connections were closed.
type KickResult struct {
	api.KickResult
	data
}

// State is a node's state as /system/state reports it.
type State struct {
	api.State
	data
}

// Uptime returns how long the node had run when it answered (uptimeMs), or, when the
// server did not say, the time from startedAt to now; 0 when unknown.
func (s State) Uptime(now time.Time) time.Duration { return uptime(s.UptimeMs, s.StartedAt, now) }

// UserQuery selects online users: an app's, or one room's.
type UserQuery struct {
	AppID  uint32
	Room   string // "" for the whole app
	Cursor string // start after this user id; "" from the first
	Limit  int    // ids per page, 1..api.MaxPageLimit; 0 means the server's default (api.DefaultPageLimit)
}

func (q UserQuery) values() (url.Values, error) {
	v := url.Values{}
	if err := checkApp(q.AppID); err != nil {
		return nil, err
	}
	v.Set("appId", strconv.FormatUint(uint64(q.AppID), 10))
	if q.Room != "" {
		if !protocol.ValidRoom(q.Room) {
			return nil, &InputError{Field: "room", Msg: "must be " + protocol.NameRule(protocol.MaxRoomLen)}
		}
		v.Set("room", q.Room)
	}
	if q.Limit < 0 || q.Limit > api.MaxPageLimit {
		return nil, &InputError{Field: "limit", Msg: fmt.Sprintf("must be 1..%d (0 for the server's default), got %d", api.MaxPageLimit, q.Limit)}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	return v, nil
}

// Users returns one page of online users after q.Cursor (GET /user/list, or /room/users
// when q.Room is set). UserCount counts them all.
func (c *Client) Users(ctx context.Context, q UserQuery) (UserPage, error) {
	v, err := q.values()
	if err != nil {
		return UserPage{}, err
	}
	path := "/user/list"
	if q.Room != "" {
		path = "/room/users"
	}
	var p UserPage
	p.raw, err = c.get(ctx, path, v, &p.UserPage)
	return p, err
}

// UserPages streams the pages of online users from q.Cursor to the end, one request per
// page, so that only one page is held at a time. It stops at the first error, which it
// yields with an empty page.
func (c *Client) UserPages(ctx context.Context, q UserQuery) iter.Seq2[UserPage, error] {
	return func(yield func(UserPage, error) bool) {
		for {
			p, err := c.Users(ctx, q)
			if err != nil {
				yield(UserPage{}, err)
				return
			}
			if !yield(p, nil) || p.NextCursor == "" {
				return
			}
			if p.NextCursor == q.Cursor {
				yield(UserPage{}, fmt.Errorf("user list: the server repeated cursor %q", q.Cursor))
				return
			}
			q.Cursor = p.NextCursor
		}
	}
}

// Online reports whether app/user is online (GET /user/online). A user who is not online
// is a Presence with Online false, not an error.
func (c *Client) Online(ctx context.Context, app uint32, user string) (Presence, error) {
	if err := checkApp(app); err != nil {
		return Presence{}, err
	}
	if err := checkUser("userId", user); err != nil {
		return Presence{}, err
	}
	v := url.Values{"appId": {strconv.FormatUint(uint64(app), 10)}, "userId": {user}}
	var p Presence
	var err error
	p.raw, err = c.get(ctx, "/user/online", v, &p.Presence)
	return p, err
}

// Message is what a push delivers.
type Message struct {
	AppID uint32
	Text  string // the message ("message" in the API); required
	MsgID string // "" lets the server pick one; an id repeated within the dedup window is not delivered again
	From  string // sender user id; "" for the system
	Type  string // message type, 1..protocol.MaxTypeLen characters; "" means text
}

// pushBody is the JSON body of the push routes.
type pushBody struct {
	AppID   uint32 `json:"appId"`
	UserID  string `json:"userId,omitempty"` // recipient of a user push
	From    string `json:"from,omitempty"`   // sender, on every route
	Room    string `json:"room,omitempty"`
	MsgID   string `json:"msgId,omitempty"`
	Type    string `json:"type,omitempty"`
	Message string `json:"message"`
}

func (m Message) body() (pushBody, error) {
	if err := checkApp(m.AppID); err != nil {
		return pushBody{}, err
	}
	if m.Text == "" {
		return pushBody{}, &InputError{Field: "message", Msg: "is required"}
	}
	// The server's rule: at most protocol.MaxMsgIDLen characters (not bytes).
	if utf8.RuneCountInString(m.MsgID) > protocol.MaxMsgIDLen {
		return pushBody{}, &InputError{Field: "msgId", Msg: fmt.Sprintf("must be at most %d characters", protocol.MaxMsgIDLen)}
	}
	if m.Type != "" && !protocol.ValidType(m.Type) {
		return pushBody{}, &InputError{Field: "type", Msg: "must be " + protocol.NameRule(protocol.MaxTypeLen)}
	}
	if m.From != "" {
		if err := checkUser("from", m.From); err != nil {
			return pushBody{}, err
		}
	}
	return pushBody{AppID: m.AppID, From: m.From, MsgID: m.MsgID, Type: m.Type, Message: m.Text}, nil
}

// PushUser pushes m to user (POST /user/sendMessage). A user who is not online is an
// *APIError matching ErrNotOnline; the message id is forgotten, so it may be retried.
func (c *Client) PushUser(ctx context.Context, user string, m Message) (PushResult, error) {
	b, err := m.body()
	if err != nil {
		return PushResult{}, err
	}
	if err := checkUser("userId", user); err != nil {
		return PushResult{}, err
	}
	b.UserID = user
	return c.push(ctx, "/user/sendMessage", b)
}

// PushRoom pushes m to every member of room (POST /room/sendMessage).
func (c *Client) PushRoom(ctx context.Context, room string, m Message) (PushResult, error) {
	b, err := m.body()
	if err != nil {
		return PushResult{}, err
	}
	if !protocol.ValidRoom(room) {
		return PushResult{}, &InputError{Field: "room", Msg: "must be " + protocol.NameRule(protocol.MaxRoomLen)}
	}
	b.Room = room
	return c.push(ctx, "/room/sendMessage", b)
}

// Broadcast pushes m to every user of its app (POST /user/sendMessageAll).
func (c *Client) Broadcast(ctx context.Context, m Message) (PushResult, error) {
	b, err := m.body()
	if err != nil {
		return PushResult{}, err
	}
	return c.push(ctx, "/user/sendMessageAll", b)
}

func (c *Client) push(ctx context.Context, path string, b pushBody) (PushResult, error) {
	var r PushResult
	var err error
	r.raw, err = c.post(ctx, path, b, &r.PushResult)
	return r, err
}

// Kick closes app/user's connections (POST /user/kick): each gets a kickout push with
// reason ("" for the server's default) and close code 4007. A user who is not online is
// an *APIError matching ErrNotOnline.
func (c *Client) Kick(ctx context.Context, app uint32, user, reason string) (KickResult, error) {
	if err := checkApp(app); err != nil {
		return KickResult{}, err
	}
	if err := checkUser("userId", user); err != nil {
		return KickResult{}, err
	}
	if len(reason) > api.MaxKickReasonBytes || !utf8.ValidString(reason) {
		return KickResult{}, &InputError{Field: "reason", Msg: fmt.Sprintf("must be at most %d bytes of UTF-8 text", api.MaxKickReasonBytes)}
	}
	body := struct {
		AppID  uint32 `json:"appId"`
		UserID string `json:"userId"`
		Reason string `json:"reason,omitempty"`
	}{app, user, reason}
	var r KickResult
	var err error
	r.raw, err = c.post(ctx, "/user/kick", body, &r.KickResult)
	return r, err
}

// State returns the node's state (GET /system/state).
func (c *Client) State(ctx context.Context) (State, error) {
	var s State
	var err error
	s.raw, err = c.get(ctx, "/system/state", nil, &s.State)
	return s, err
}

// Node is one member of the cluster. Fields a server does not report are zero.
type Node struct {
	NodeID      string `json:"nodeId"`
	Version     string `json:"version,omitempty"`
	HTTPAddr    string `json:"httpAddr,omitempty"`
	GRPCAddr    string `json:"grpcAddr,omitempty"`
	StartedAt   string `json:"startedAt,omitempty"` // RFC 3339
	UptimeMs    int64  `json:"uptimeMs,omitempty"`  // not sent by /system/nodes; see Uptime
	Connections int64  `json:"connections"`
	Users       int64  `json:"users"`
	RSSBytes    uint64 `json:"rssBytes,omitempty"`
	PSSBytes    uint64 `json:"pssBytes,omitempty"` // proportional set size (adds up across nodes of one machine)
	Draining    bool   `json:"draining,omitempty"`
	HeartbeatAt string `json:"heartbeatAt,omitempty"` // RFC 3339, the node's last registry renewal
	Self        bool   `json:"self,omitempty"`        // the node that answered
	Live        bool   `json:"live,omitempty"`        // counts read from the node now (not its last renewal)
}

// Uptime returns how long the node has run: uptimeMs when the server sent it, else the
// time from startedAt to now (/system/nodes sends only startedAt); 0 when unknown.
func (n Node) Uptime(now time.Time) time.Duration { return uptime(n.UptimeMs, n.StartedAt, now) }

// NodeList is the cluster's live nodes. Mode is "redis" for a cluster and "single" for a
// node on its own (whose list is itself).
type NodeList struct {
	Mode  string `json:"mode"`
	Nodes []Node `json:"nodes"`
	data
}

// Cluster reports whether the nodes form a cluster through Redis (one push through any of
// them reaches all).
func (l NodeList) Cluster() bool { return l.Mode == "redis" }

// Nodes lists the cluster's nodes (GET /system/nodes).
func (c *Client) Nodes(ctx context.Context) (NodeList, error) {
	raw, err := c.get(ctx, "/system/nodes", nil, nil)
	if err != nil {
		return NodeList{}, err
	}
	var nl NodeList
	if err := json.Unmarshal(raw, &nl); err != nil {
		return NodeList{}, fmt.Errorf("decode GET /system/nodes answer: %w", err)
	}
	nl.data = data{raw: raw}
	return nl, nil
}

func checkApp(app uint32) error {
	if app == 0 {
		return &InputError{Field: "appId", Msg: "is required (a positive integer)"}
	}
	return nil
}

func checkUser(field, user string) error {
	if user == "" {
		return &InputError{Field: field, Msg: "is required"}
	}
	if !protocol.ValidUserID(user) {
		return &InputError{Field: field, Msg: "must be " + protocol.NameRule(protocol.MaxUserIDLen)}
	}
	return nil
}
