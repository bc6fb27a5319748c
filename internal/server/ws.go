package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/server/hub"
	"github.com/gows-dev/gows/internal/wsframe"
)

// wsHandler connects the engine to the server: it admits handshakes and hands each
// connection's messages to its worker.
type wsHandler struct{ s *Server }

func (h *wsHandler) Accept(r *http.Request) error {
	if r.URL.Path != h.s.cfg.WSPath && (h.s.cfg.EchoPath == "" || r.URL.Path != h.s.cfg.EchoPath) {
		return &wsframe.HandshakeError{Status: http.StatusNotFound, Msg: "no websocket endpoint at " + r.URL.Path + "; use " + h.s.cfg.WSPath}
	}
	if origin := r.Header.Get("Origin"); !h.s.origins.Allow(origin, r.Host) {
		// Debug, not Warn: any web page can make browsers send these, and each is
		// counted (gows_handshake_failures_total{reason="forbidden"}).
		h.s.log.Debug("websocket origin refused", "origin", origin, "host", r.Host, "remote", r.RemoteAddr)
		return &wsframe.HandshakeError{Status: http.StatusForbidden, Msg: "origin not allowed: " + origin}
	}
	return nil
}

func (h *wsHandler) OnOpen(c *conn.Conn, r *http.Request) {
	if r.URL.Path != h.s.cfg.WSPath {
		return // the echo endpoint: no session, no login
	}
	c.SetValue(hub.NewSession(c))
	c.SetDeadline(time.Now().Add(h.s.cfg.LoginTimeout), protocol.CloseLoginTimeout)
}

func (h *wsHandler) OnMessage(c *conn.Conn, op wsframe.Opcode, payload []byte) {
	sess, ok := c.Value().(*hub.Session)
	if !ok {
		h.s.echo(c, op, payload)
		return
	}
	j := job{c: c, s: sess, op: op, limited: h.s.limit(c)}
	if j.limited == limitDrop {
		return
	}
	if j.limited == notLimited || len(payload) <= maxSeqProbe {
		j.payload = append([]byte(nil), payload...)
	}
	if !h.s.work.tryEnqueue(j) {
		h.s.metrics.busy.Inc()
		// The seq of a small message is read back (off the queue, on the engine's loop:
		// at most maxSeqProbe bytes), so that a client can tell which request to retry.
		h.s.reply(c, seqOf(payload), "", protocol.OperationFailure, "server busy, retry later", nil)
	}
}

func (h *wsHandler) OnClose(c *conn.Conn, why *conn.CloseError) {
	sess, ok := c.Value().(*hub.Session)
	if !ok {
		return // echo connection
	}
	h.s.work.enqueue(job{c: c, s: sess, closed: why})
}

// handleJob runs one connection job on its worker.
func (s *Server) handleJob(j job) {
	switch j.limited {
	case limitReply:
		s.reply(j.c, seqOf(j.payload), "", protocol.OperationFailure, "rate limit exceeded: slow down", nil)
		return
	case limitClose:
		s.log.Warn("closing connection for sustained rate abuse", "conn_id", j.c.ID(), "remote", conn.AddrString(j.c.RemoteAddr()), "user_id", j.s.User())
		j.c.Close(protocol.CloseRateLimited, protocol.CloseRateLimited.Text())
		return
	}
	if j.closed != nil {
		s.log.Debug("connection closed", "conn_id", j.c.ID(), "user_id", j.s.User(), "code", uint16(j.closed.Code), "reason", j.closed.Reason)
		s.logout(j.s)
		return
	}
	if j.op != wsframe.OpText {
		// JSON sent in a binary frame by mistake gets its seq back, like any refused message.
		s.reply(j.c, seqOf(j.payload), "", protocol.ParameterIllegal, "binary frames are not supported: send JSON in text frames", nil)
		return
	}
	req, err := protocol.Decode(j.payload)
	if err != nil {
		var de *protocol.DecodeError
		seq := ""
		if errors.As(err, &de) {
			seq = de.Seq
		}
		s.reply(j.c, seq, "", protocol.ParameterIllegal, "invalid request: "+err.Error(), nil)
		return
	}
	cmd, ok := lookupCommand(req.Cmd)
	if !ok {
		s.metrics.commands.WithLabelValues("unknown").Inc()
		s.reply(j.c, req.Seq, req.Cmd, protocol.RoutingNotExist, "unknown cmd "+truncate(req.Cmd, 32), nil)
		return
	}
	s.metrics.commands.WithLabelValues(req.Cmd).Inc()
	if cmd.needLogin && !j.s.LoggedIn() {
		if req.Cmd == protocol.CmdJoin {
			s.metrics.joinsRefused.WithLabelValues("not_logged_in").Inc()
		}
		s.reply(j.c, req.Seq, req.Cmd, protocol.NotLoggedIn, "log in first", nil)
		return
	}
	ctx := context.Background()
	if !cmd.quick { // a deadline costs a timer: heartbeats, most of a busy node's commands, need none
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, commandTimeout)
		defer cancel()
	}
	code, msg, data := cmd.run(s, ctx, j.s, req)
	s.reply(j.c, req.Seq, req.Cmd, code, msg, data)
	if code == protocol.Unauthorized {
		s.closeIfLoginsFailed(j.s)
	}
}

// commandTimeout bounds the work of one WebSocket command (cluster lookups included).
const commandTimeout = 5 * time.Second

type command struct {
	needLogin bool
	quick     bool // answers at once, without I/O: runs without a deadline
	run       func(s *Server, ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any)
}

// lookupCommand returns the handler of a WebSocket command.
func lookupCommand(name string) (command, bool) {
	switch name {
	case protocol.CmdLogin:
		return command{run: (*Server).cmdLogin}, true
	case protocol.CmdHeartbeat:
		return command{needLogin: true, quick: true, run: (*Server).cmdHeartbeat}, true
	case protocol.CmdPing:
		return command{quick: true, run: (*Server).cmdPing}, true
	case protocol.CmdSend:
		return command{needLogin: true, run: (*Server).cmdSend}, true
	case protocol.CmdJoin:
		return command{needLogin: true, run: (*Server).cmdJoin}, true
	case protocol.CmdLeave:
		return command{needLogin: true, run: (*Server).cmdLeave}, true
	case protocol.CmdUsers:
		return command{needLogin: true, run: (*Server).cmdUsers}, true
	case protocol.CmdLogout:
		return command{needLogin: true, run: (*Server).cmdLogout}, true
	case protocol.CmdRefresh:
		return command{needLogin: true, run: (*Server).cmdRefresh}, true
	}
	return command{}, false
}

func (s *Server) cmdPing(context.Context, *hub.Session, protocol.Request) (protocol.Code, string, any) {
	return protocol.OK, "", "pong"
}

func (s *Server) cmdHeartbeat(context.Context, *hub.Session, protocol.Request) (protocol.Code, string, any) {
	return protocol.OK, "", nil
}

func (s *Server) cmdLogin(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	var d protocol.LoginData
	if err := protocol.DecodeData(req.Data, &d); err != nil {
		return protocol.ParameterIllegal, "login data: " + err.Error(), nil
	}
	if d.AppID == 0 {
		return protocol.ParameterIllegal, "appId is required", nil
	}
	if !s.appAllowed(d.AppID) {
		return protocol.Unauthorized, fmt.Sprintf("appId %d is not allowed on this server", d.AppID), nil // as the seed
	}
	if !protocol.ValidUserID(d.UserID) {
		return protocol.UnauthorizedUserID, "userId must be " + protocol.NameRule(protocol.MaxUserIDLen), nil
	}
	c := sess.Conn().(*conn.Conn)
	exp, code, msg := s.checkLogin(sess, d)
	if code != protocol.OK {
		return code, msg, nil
	}
	if sess.LoggedIn() && sess.App() == d.AppID && sess.User() == d.UserID {
		expireAt(c, exp)
		return protocol.OK, "", nil // a repeated login of the same identity is harmless
	}
	// Refused before the session leaves the identity it has: a refused switch keeps it.
	limit, reject := s.cfg.MaxConnsPerUser, s.cfg.DuplicateLogin == "reject" && s.cfg.MaxConnsPerUser > 0
	room := limit // for this user's connections here
	if reject {
		here, others := s.userConns(ctx, d.AppID, d.UserID)
		if here+others >= limit {
			return s.rejectLogin(d.UserID, here+others)
		}
		room -= others
	}
	s.logout(sess) // a session switching identity leaves the old one first
	now := time.Now().UnixMilli()
	over, first, ok := []*hub.Session(nil), false, true
	if reject {
		// Counted again with the login, in one step: another connection of the user may
		// have logged in here since (the refused one has then left its old identity).
		over, first, ok = s.hub.LoginUnder(sess, d.AppID, d.UserID, now, room)
	} else {
		over, first = s.hub.Login(sess, d.AppID, d.UserID, now)
	}
	if !ok {
		return s.rejectLogin(d.UserID, limit)
	}
	// Queued, not awaited: a login costs no Redis round trip. Sessions of this user on
	// other nodes past the limit are kicked when the write reports them (Server.takeover),
	// and the app is told the user came when the write finds no other session of it
	// (Server.cameOnline). A user's second connection, or one replacing another, is no news.
	s.broker.Login(cluster.User{App: d.AppID, ID: d.UserID, Node: s.nodeID, LoginMs: sess.LoginMs(), Addr: conn.AddrString(c.RemoteAddr())}, first)
	c.ClearDeadline()
	expireAt(c, exp)
	s.metrics.logins.Inc()
	for _, old := range over {
		s.metrics.duplicates.WithLabelValues("kicked").Inc()
		s.kick(old, protocol.CloseKickout, "logged in elsewhere")
	}
	s.log.Debug("login", "conn_id", c.ID(), "app_id", d.AppID, "user_id", d.UserID)
	return protocol.OK, "", nil
}

// rejectLogin refuses a login in duplicate_login: reject mode: user already has n
// connections, the most allowed.
func (s *Server) rejectLogin(user string, n int) (protocol.Code, string, any) {
	s.metrics.duplicates.WithLabelValues("rejected").Inc()
	if s.cfg.MaxConnsPerUser == 1 {
		return protocol.OperationFailure, "user " + user + " is already logged in", nil
	}
	return protocol.OperationFailure, fmt.Sprintf("user %s is already logged in on %d connections, the most allowed (max_conns_per_user)", user, n), nil
}

func (s *Server) cmdLogout(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	s.logout(sess)
	sess.Conn().(*conn.Conn).SetDeadline(time.Now().Add(s.cfg.LoginTimeout), protocol.CloseLoginTimeout)
	return protocol.OK, "", nil
}

// logout removes a session from the hub, tells its rooms, and its app when that was its
// user's last session (Server.wentOffline).
func (s *Server) logout(sess *hub.Session) {
	if !sess.LoggedIn() {
		return
	}
	app, user, loginMs := sess.App(), sess.User(), sess.LoginMs()
	rooms := slices.Clone(sess.Rooms()) // Logout leaves them
	listed, last := s.hub.Logout(sess)
	// The rooms lost a member even when the user is still online elsewhere (a newer
	// session has joined none of them), unless another connection of the user here is
	// still in the room.
	for _, r := range rooms {
		if !s.hub.InRoomElsewhere(sess, r) {
			s.notify(app, r, s.hub.RoomSize(app, r), protocol.CmdExit, user)
		}
	}
	// A session replaced by a newer login (here, or on another node), or one of several
	// connections of the user, leaves an online user behind: no exit for the app.
	if listed {
		s.broker.Logout(cluster.User{App: app, ID: user, Node: s.nodeID, LoginMs: loginMs}, last && !sess.Replaced())
	}
}

// kick sends a session a kickout push and closes it with code.
func (s *Server) kick(sess *hub.Session, code protocol.CloseCode, why string) {
	frame, err := s.pushFrame("", protocol.CmdKickout, protocol.Message{Type: protocol.TypeKickout, Msg: why})
	if err == nil {
		_ = sess.Conn().Send(frame) // best effort: the close below says the same
	}
	sess.Conn().Close(code, why)
}

func (s *Server) cmdSend(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	var d protocol.SendData
	if err := protocol.DecodeData(req.Data, &d); err != nil {
		return protocol.ParameterIllegal, "send data: " + err.Error(), nil
	}
	if d.Msg == "" {
		return protocol.ParameterIllegal, "msg is required", nil
	}
	p := api.Push{AppID: sess.App(), From: sess.User(), Type: d.Type, Msg: d.Msg, Target: api.ToApp}
	switch {
	case d.To != "" && d.Room != "":
		return protocol.ParameterIllegal, "give either to or room, not both", nil
	case d.To != "":
		if !protocol.ValidUserID(d.To) {
			return protocol.ParameterIllegal, "to: not a valid user id", nil
		}
		p.Target, p.UserID = api.ToUser, d.To
	case d.Room != "":
		if !protocol.ValidRoom(d.Room) {
			return protocol.ParameterIllegal, "room: not a valid room name", nil
		}
		if !inRoom(sess, d.Room) {
			return protocol.OperationFailure, "join room " + d.Room + " first", nil
		}
		p.Target, p.Room = api.ToRoom, d.Room
	}
	res, err := s.push(ctx, p)
	if errors.Is(err, api.ErrNotOnline) { // the HTTP API's words
		return protocol.NotData, "user " + d.To + " is not online", nil
	}
	if err != nil {
		return errorCode(err), err.Error(), nil // as every error answer: no data
	}
	return protocol.OK, "", res
}

func inRoom(sess *hub.Session, room string) bool {
	for _, r := range sess.Rooms() {
		if r == room {
			return true
		}
	}
	return false
}

// roomData is the answer data of join and leave.
type roomData struct {
	Room      string `json:"room"`
	UserCount int    `json:"userCount"`
}

func (s *Server) cmdJoin(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	room, code, msg := roomArg(req)
	if code != protocol.OK {
		s.metrics.joinsRefused.WithLabelValues("bad_request").Inc()
		return code, msg, nil
	}
	already := inRoom(sess, room)
	// The cap bounds the memory a client can make the node spend on memberships: the
	// message rate alone would let it join rooms without end.
	if maxRooms := s.cfg.MaxRooms; !already && maxRooms > 0 && len(sess.Rooms()) >= maxRooms {
		s.metrics.joinsRefused.WithLabelValues("max_rooms").Inc()
		return protocol.OperationFailure, fmt.Sprintf("already in %d rooms, the most a connection may join (max_rooms): leave one first", maxRooms), nil
	}
	n := s.hub.Join(sess, room)
	if !already && !s.hub.InRoomElsewhere(sess, room) {
		s.notify(sess.App(), room, n, protocol.CmdEnter, sess.User())
	}
	return protocol.OK, "", roomData{Room: room, UserCount: n}
}

func (s *Server) cmdLeave(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	room, code, msg := roomArg(req)
	if code != protocol.OK {
		return code, msg, nil
	}
	if !s.hub.Leave(sess, room) {
		return protocol.NotData, "not in room " + room, nil
	}
	n := s.hub.RoomSize(sess.App(), room)
	if !s.hub.InRoomElsewhere(sess, room) {
		s.notify(sess.App(), room, n, protocol.CmdExit, sess.User())
	}
	return protocol.OK, "", roomData{Room: room, UserCount: n}
}

func roomArg(req protocol.Request) (string, protocol.Code, string) {
	var d protocol.RoomData
	if err := protocol.DecodeData(req.Data, &d); err != nil {
		return "", protocol.ParameterIllegal, "room data: " + err.Error()
	}
	if !protocol.ValidRoom(d.Room) {
		return "", protocol.ParameterIllegal, "room must be " + protocol.NameRule(protocol.MaxRoomLen)
	}
	return d.Room, protocol.OK, ""
}

func (s *Server) cmdUsers(ctx context.Context, sess *hub.Session, req protocol.Request) (protocol.Code, string, any) {
	var d protocol.UsersData
	if len(req.Data) > 0 && string(req.Data) != "null" {
		if err := protocol.DecodeData(req.Data, &d); err != nil {
			return protocol.ParameterIllegal, "users data: " + err.Error(), nil
		}
	}
	if d.Room != "" && !protocol.ValidRoom(d.Room) {
		return protocol.ParameterIllegal, "room: not a valid room name", nil
	}
	page, err := s.users(ctx, sess.App(), d.Room, "", api.MaxPageLimit)
	if err != nil {
		return errorCode(err), err.Error(), nil
	}
	return protocol.OK, "", protocol.UsersResult{UserCount: page.UserCount, UserList: page.UserList}
}

// notify tells the users of app on this node (of room in it, if room is set) that user
// came (cmd enter) or went (cmd exit), when the app or room has at most presence_limit
// users here (size), and queues the notice for the cluster's other nodes (notices.go).
// No user gets a notice about itself, from this node or another.
func (s *Server) notify(app uint32, room string, size int, cmd, user string) {
	if cmd == protocol.CmdExit {
		size++ // judged as its enter was: by the app or room with the user in it
	}
	if s.cfg.PresenceLimit == 0 || size > s.cfg.PresenceLimit {
		return
	}
	payload, err := protocol.EncodePush("", cmd, protocol.Message{Target: room, Type: cmd, From: user})
	if err != nil {
		s.log.Error("encode push", "cmd", cmd, "err", err)
		return
	}
	n := notice{app: app, room: room, user: user, payload: payload}
	switch {
	case s.notices == nil: // a node on its own
		s.tellHere(n)
	case room == "":
		// In a cluster an app is small or big by its users on all nodes together: the
		// forwarder, which reads that figure, tells this node's users too.
		n.here = true
		s.notices.add(n)
	default: // a room is gated by its size here: its members here are told at once
		s.tellHere(n)
		s.notices.add(n)
	}
}

// tellHere sends a presence notice to its app's or room's users on this node but the
// user it is about.
func (s *Server) tellHere(n notice) {
	frame := conn.TextFrame(n.payload)
	if n.room == "" {
		s.hub.SendApp(n.app, frame, n.user)
	} else {
		s.hub.SendRoom(n.app, n.room, frame, n.user)
	}
}

// reply sends a command's answer on c.
func (s *Server) reply(c *conn.Conn, seq, cmd string, code protocol.Code, msg string, data any) {
	b, err := protocol.EncodeResponse(seq, cmd, code, msg, data)
	if err != nil {
		s.log.Error("encode response", "cmd", cmd, "err", err)
		b, _ = protocol.EncodeResponse(seq, cmd, protocol.ServerError, "encode response failed", nil) // static data: cannot fail
	}
	if err := c.Send(conn.TextFrame(b)); err != nil {
		// The connection is closing: the client closed it (or was closed) while the
		// command ran, and its answer has nowhere to go.
		s.metrics.unanswered.Inc()
		s.log.Debug("answer not sent: the connection is closing", "conn_id", c.ID(), "cmd", cmd, "seq", seq, "err", err)
	}
}

// pushFrame encodes a push once, for any number of recipients.
func (s *Server) pushFrame(seq, cmd string, m protocol.Message) ([]byte, error) {
	b, err := protocol.EncodePush(seq, cmd, m)
	if err != nil {
		s.log.Error("encode push", "cmd", cmd, "err", err)
		return nil, err
	}
	return conn.TextFrame(b), nil
}

// errorCode maps a backend error to a protocol code.
func errorCode(err error) protocol.Code {
	var pe *api.ParamError
	switch {
	case errors.As(err, &pe):
		return protocol.ParameterIllegal
	case errors.Is(err, api.ErrNotOnline):
		return protocol.NotData
	case errors.Is(err, api.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return protocol.OperationFailure
	default:
		return protocol.ServerError
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n-- // never cut a character in half
	}
	return s[:n] + "..."
}
