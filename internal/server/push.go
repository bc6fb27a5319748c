package server

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/server/conn"
)

// backend adapts the Server to api.Backend.
type backend struct{ s *Server }

func (b backend) Online(ctx context.Context, app uint32, user string) (api.Presence, error) {
	return b.s.online(ctx, app, user)
}

func (b backend) Users(ctx context.Context, app uint32, room, cursor string, limit int) (api.UserPage, error) {
	return b.s.users(ctx, app, room, cursor, limit)
}

func (b backend) Push(ctx context.Context, p api.Push) (api.PushResult, error) {
	return b.s.push(ctx, p)
}

func (b backend) State(ctx context.Context) api.State {
	st := b.s.nodeState()
	st.Cluster = b.s.clusterState(ctx)
	return st
}

func (b backend) Nodes(ctx context.Context) ([]api.NodeState, error) { return b.s.nodes(ctx) }

// push delivers p to its target's connections cluster-wide: to a user here or, through
// one gRPC call, on the node presence names; to a room or an app here and on every peer
// in parallel, summing what each node delivered. A client's msgId seen within the
// dedup window (on any node while Redis is up) is acknowledged without delivering it
// again; a push that reached nobody forgets its id, so the caller can retry it, and the
// node holding the user answers a retry of what it delivered late as a duplicate.
func (s *Server) push(ctx context.Context, p api.Push) (api.PushResult, error) {
	if !s.appAllowed(p.AppID) {
		return api.PushResult{}, &api.ParamError{Field: "appId", Msg: fmt.Sprintf("app %d is not allowed on this server", p.AppID)}
	}
	if p.Type == "" {
		p.Type = protocol.TypeText
	}
	if !protocol.ValidType(p.Type) {
		return api.PushResult{}, &api.ParamError{Field: "type", Msg: "must be " + protocol.NameRule(protocol.MaxTypeLen)}
	}
	// Ids the server makes are unique: only a client's own ids need deduplication,
	// which in a cluster costs a Redis call.
	clientID := p.MsgID != ""
	if !clientID {
		p.MsgID = s.newMsgID()
	}
	res := api.PushResult{MsgID: p.MsgID}
	if clientID && !s.broker.First(ctx, p.AppID, p.MsgID) {
		res.Duplicate = true
		s.metrics.pushed(p.Target.String(), "duplicate")
		return res, nil
	}
	forget := func() {
		if clientID {
			s.broker.Forget(ctx, p.AppID, p.MsgID)
		}
	}
	m := protocol.Message{Target: p.Room, Type: p.Type, Msg: p.Msg, From: p.From}
	if p.Target == api.ToUser {
		m.To = p.UserID
	}
	payload, err := protocol.EncodePush(p.MsgID, protocol.CmdMsg, m)
	if err != nil {
		forget()
		return res, fmt.Errorf("encode push: %w", err)
	}
	frame := conn.TextFrame(payload)
	switch p.Target {
	case api.ToUser:
		res.Delivered = s.hub.SendUser(p.AppID, p.UserID, frame)
		if s.allHere(res.Delivered) {
			break
		}
		dedupID := ""
		if clientID {
			dedupID = p.MsgID
		}
		remote, failed, err := s.sendRemote(ctx, p.AppID, p.UserID, dedupID, payload)
		res.Delivered, res.NodesFailed = res.Delivered+remote, failed
		if errors.Is(err, errDelivered) && res.Delivered == 0 {
			res.Duplicate = true
			s.metrics.pushed(p.Target.String(), "duplicate")
			return res, nil
		}
		if err != nil && res.Delivered == 0 {
			forget()
			result := "unavailable"
			if errors.Is(err, api.ErrNotOnline) {
				result = "not_online"
			}
			s.metrics.pushed(p.Target.String(), result)
			return res, err
		}
		if err != nil && !errors.Is(err, api.ErrNotOnline) {
			// Delivered here; the other nodes could not be asked (Redis is down).
			s.log.Debug("push to a user reached this node only", "app_id", p.AppID, "user_id", p.UserID, "err", err)
		}
	case api.ToRoom, api.ToApp:
		// The other nodes start while this one sends to its own connections, rather than
		// waiting for it: a broadcast takes as long as the slowest node, not this node's
		// share plus the slowest.
		room := ""
		if p.Target == api.ToRoom {
			room = p.Room
		}
		type remoteResult struct{ delivered, failed int }
		remote := make(chan remoteResult, 1)
		go func() { // joined below, before push returns
			n, failed := s.broadcastRemote(ctx, p.AppID, room, "", payload)
			remote <- remoteResult{n, failed}
		}()
		if room == "" {
			res.Delivered = s.hub.SendApp(p.AppID, frame, "")
		} else {
			res.Delivered = s.hub.SendRoom(p.AppID, room, frame, "")
		}
		r := <-remote
		res.Delivered, res.NodesFailed = res.Delivered+r.delivered, r.failed
	}
	s.metrics.pushed(p.Target.String(), "ok")
	return res, nil
}

// allHere reports whether n connections of a user on this node are all the user may
// have (max_conns_per_user), so that no other node need be asked about the user.
func (s *Server) allHere(n int) bool {
	return n > 0 && s.cfg.MaxConnsPerUser > 0 && n >= s.cfg.MaxConnsPerUser
}

// online reports where app/user is connected, here and on other nodes. NodeID, Addr and
// LoginAt describe the newest connection.
func (s *Server) online(ctx context.Context, app uint32, user string) (api.Presence, error) {
	p := api.Presence{AppID: app, UserID: user}
	var newest int64
	add := func(node, addr string, ms int64) {
		p.Online = true
		p.Connections++
		if !slices.Contains(p.Nodes, node) {
			p.Nodes = append(p.Nodes, node)
		}
		if ms >= newest {
			newest, p.NodeID, p.Addr = ms, node, addr
			p.LoginAt = time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
		}
	}
	for _, u := range s.localSessions(app, user) {
		add(u.Node, u.Addr, u.LoginMs)
	}
	if s.allHere(p.Connections) {
		return p, nil
	}
	us, err := s.broker.Sessions(ctx, app, user)
	if err != nil {
		if p.Online { // the user is here; whether also elsewhere cannot be told
			return p, nil
		}
		return p, unavailable("online "+user, err)
	}
	for _, u := range us {
		if u.Node != s.nodeID { // here, presence lags the hub: the hub is right
			add(u.Node, u.Addr, u.LoginMs)
		}
	}
	slices.Sort(p.Nodes)
	return p, nil
}

// users returns a page of app's (or a room's) online users cluster-wide, sorted, after
// cursor.
func (s *Server) users(ctx context.Context, app uint32, room, cursor string, limit int) (api.UserPage, error) {
	if room != "" {
		members, failed := s.roomUsers(ctx, app, room)
		pg := cluster.PageOf(members, cursor, limit)
		return api.UserPage{UserCount: pg.Total, UserList: pg.Users, NextCursor: pg.Next, NodesFailed: failed}, nil
	}
	pg, err := s.broker.Users(ctx, app, cursor, limit)
	if err != nil {
		return api.UserPage{}, unavailable("list users", err)
	}
	return api.UserPage{UserCount: pg.Total, UserList: pg.Users, NextCursor: pg.Next}, nil
}

// nodeState reports the node's own state: /system/state (which adds the cluster's) and
// the node service's State.
func (s *Server) nodeState() api.State {
	es := s.engine.Stats()
	mem := s.mem.read()
	samples := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(samples)
	var heap uint64
	if samples[0].Value.Kind() == rtmetrics.KindUint64 {
		heap = samples[0].Value.Uint64()
	}
	return api.State{
		NodeID:            s.nodeID,
		Version:           s.version,
		StartedAt:         s.started.UTC().Format(time.RFC3339),
		UptimeMs:          time.Since(s.started).Milliseconds(),
		Connections:       es.Open,
		Handshaking:       es.Handshaking,
		Users:             s.hub.Count(),
		Rooms:             s.hub.Rooms(),
		Goroutines:        runtime.NumGoroutine(),
		HeapBytes:         heap,
		RSSBytes:          mem.rss,
		PSSBytes:          mem.pss,
		MaxConns:          s.engine.MaxConns(),
		MessagesIn:        es.MessagesIn,
		MessagesOut:       es.FramesOut,
		Pushes:            s.metrics.pushTotal.Load(),
		Dropped:           es.FramesDropped,
		SlowConsumers:     es.SlowConsumers,
		HandshakeFailures: es.HandshakeFailures(),
		Draining:          s.draining.Load(),
	}
}
