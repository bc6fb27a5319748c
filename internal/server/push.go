package server

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	rtmetrics "runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
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

func (b backend) State(ctx context.Context) api.State { return b.s.state() }

// push delivers p to its target's connections on this node. A msgId seen within the
// dedup window is acknowledged without delivering it again; a push that reached nobody
// forgets its id, so the caller can retry it.
func (s *Server) push(ctx context.Context, p api.Push) (api.PushResult, error) {
	if !s.appAllowed(p.AppID) {
		return api.PushResult{}, &api.ParamError{Field: "appId", Msg: fmt.Sprintf("app %d is not allowed on this server", p.AppID)}
	}
	if p.Type == "" {
		p.Type = protocol.TypeText
	}
	if p.MsgID == "" {
		p.MsgID = s.newMsgID()
	}
	res := api.PushResult{MsgID: p.MsgID}
	if !s.dedup.first(p.AppID, p.MsgID, time.Now()) {
		res.Duplicate = true
		s.metrics.pushed(p.Target.String(), "duplicate")
		return res, nil
	}
	m := protocol.Message{Target: p.Room, Type: p.Type, Msg: p.Msg, From: p.From}
	if p.Target == api.ToUser {
		m.To = p.UserID
	}
	frame, err := s.pushFrame(p.MsgID, protocol.CmdMsg, m)
	if err != nil {
		s.dedup.forget(p.AppID, p.MsgID)
		return res, err
	}
	switch p.Target {
	case api.ToUser:
		if s.hub.SendUser(p.AppID, p.UserID, frame) {
			res.Delivered = 1
		}
	case api.ToRoom:
		res.Delivered = s.hub.SendRoom(p.AppID, p.Room, frame, nil)
	case api.ToApp:
		res.Delivered = s.hub.SendApp(p.AppID, frame, nil)
	}
	if p.Target == api.ToUser && res.Delivered == 0 {
		s.dedup.forget(p.AppID, p.MsgID)
		s.metrics.pushed(p.Target.String(), "not_online")
		return res, fmt.Errorf("push to %s: %w", p.UserID, api.ErrNotOnline)
	}
	s.metrics.pushed(p.Target.String(), "ok")
	return res, nil
}

// online reports where app/user is connected.
func (s *Server) online(ctx context.Context, app uint32, user string) (api.Presence, error) {
	p := api.Presence{AppID: app, UserID: user}
	sess := s.hub.Lookup(app, user)
	if sess == nil {
		return p, nil
	}
	p.Online, p.NodeID = true, s.nodeID
	if c, ok := sess.Conn().(interface{ RemoteAddr() netip.AddrPort }); ok {
		p.Addr = c.RemoteAddr().String()
	}
	p.LoginAt = time.UnixMilli(sess.LoginMs()).UTC().Format(time.RFC3339Nano)
	return p, nil
}

// users returns a page of app's (or a room's) online users, sorted, after cursor.
func (s *Server) users(ctx context.Context, app uint32, room, cursor string, limit int) (api.UserPage, error) {
	var all []string
	if room == "" {
		all = s.hub.Users(app)
	} else {
		all = s.hub.RoomUsers(app, room)
	}
	return pageOf(all, cursor, limit), nil
}

// pageOf cuts a page of at most limit ids after cursor out of sorted ids.
func pageOf(sorted []string, cursor string, limit int) api.UserPage {
	page := api.UserPage{UserCount: len(sorted)}
	start := 0
	if cursor != "" {
		start, _ = slices.BinarySearch(sorted, cursor)
		if start < len(sorted) && sorted[start] == cursor {
			start++
		}
	}
	end := min(start+limit, len(sorted))
	page.UserList = append([]string{}, sorted[start:end]...)
	if end < len(sorted) {
		page.NextCursor = sorted[end-1]
	}
	return page
}

// state reports the node's state for /system/state.
func (s *Server) state() api.State {
	es := s.engine.Stats()
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
		RSSBytes:          rssBytes(),
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

// rssBytes reads the process's resident set size from /proc (0 if unavailable).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(os.Getpagesize())
}
