package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/server/api"
	"github.com/gows-dev/gows/internal/server/cluster"
	"github.com/gows-dev/gows/internal/server/conn"
	"github.com/gows-dev/gows/internal/server/hub"
	"github.com/gows-dev/gows/internal/server/rpc"
	gowsv1 "github.com/gows-dev/gows/proto/gows/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// maxTakeoverKicks bounds the kicks of replaced sessions on other nodes in flight; past
// it a kick is skipped (the older connection stays until it closes by itself) and
// counted.
const maxTakeoverKicks = 256

// newBroker builds the cluster broker: Redis when configured, else the in-memory one.
func (s *Server) newBroker() error {
	hooks := cluster.Hooks{
		Self:          s.selfNode,
		Local:         s.localUsers,
		OnPeers:       s.syncPeers,
		OnTakeover:    s.takeover,
		OnOnline:      s.cameOnline,
		OnOffline:     s.wentOffline,
		LocalUser:     s.localUser,
		LocalSessions: s.localSessions,
		LocalApp:      s.hub.Users,
	}
	cc := s.cfg.Cluster
	if !cc.Enabled() {
		s.broker = cluster.NewMemory(s.nodeID, s.cfg.DedupWindow, hooks)
		return nil
	}
	r, err := cluster.NewRedis(cluster.RedisConfig{
		NodeID:      s.nodeID,
		URL:         cc.Redis,
		Addrs:       cc.RedisAddrs,
		MasterName:  cc.RedisMaster,
		Password:    cc.RedisPassword,
		Prefix:      cc.RedisPrefix,
		Timeout:     cc.RedisTimeout,
		NodeTTL:     cc.NodeTTL,
		DedupWindow: s.cfg.DedupWindow,
		// 0 (no limit) is negative here: the broker's zero value keeps one session.
		ConnsPerUser: cmp.Or(s.cfg.MaxConnsPerUser, -1),
		Logger:       s.log.With("component", "cluster"),
	}, hooks)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.broker, s.redis = r, r
	return nil
}

// newRPC binds the gRPC listener and builds the node service and the peer clients.
func (s *Server) newRPC() error {
	ln, err := listenTCP(s.cfg.GRPCAddr, false)
	if err != nil {
		return fmt.Errorf("grpc_addr: %w", err)
	}
	s.grpcLn = ln
	var opts []grpc.ServerOption
	if s.sec.clusterServer != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.sec.clusterServer)))
	}
	s.grpcSrv = rpc.NewServer(s.cfg.Cluster.Token, rpc.Local{Hub: s.hub, State: s.rpcState, Kick: s.kickLocal,
		Logger: s.log.With("component", "rpc"), Delivered: cluster.NewDedup(s.cfg.DedupWindow)}, opts...)
	s.peers = rpc.NewPeers(rpc.PeersConfig{
		Token:   s.cfg.Cluster.Token,
		Timeout: s.cfg.Cluster.RPCTimeout,
		Logger:  s.log.With("component", "rpc"),
		Observe: func(method string, err error, took time.Duration) { s.metrics.cluster.rpcCall(method, err, took) },
		TLS:     s.sec.clusterClient,
	})
	s.notices = newNoticeForwarder(s)
	s.grpcAddr = advertised(ln.Addr(), s.cfg.Cluster.AdvertiseHost)
	return nil
}

// advertised is the address other nodes use for a bound listener: the advertise host
// if set, else the bound host unless it is a wildcard, else the host name.
func advertised(bound net.Addr, host string) string {
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil {
		return bound.String()
	}
	if host == "" {
		if ip := ap.Addr(); !ip.IsUnspecified() {
			host = ip.Unmap().String()
		} else if h, err := os.Hostname(); err == nil && h != "" {
			host = h
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(int(ap.Port())))
}

// GRPCAddr returns the gRPC address this node registers ("" without a cluster).
func (s *Server) GRPCAddr() string { return s.grpcAddr }

// serveGRPC serves the node service until ctx is done, then stops gracefully, falling
// back to a hard stop after DrainTimeout.
func (s *Server) serveGRPC(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.grpcSrv.Serve(s.grpcLn) }()
	select {
	case err := <-errc:
		return fmt.Errorf("grpc server: %w", err)
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() {
		s.grpcSrv.GracefulStop()
		close(stopped)
	}()
	t := time.NewTimer(s.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-stopped:
	case <-t.C:
		s.log.Warn("grpc drain timed out: stopping the calls still running", "drain_timeout", s.cfg.DrainTimeout)
		s.grpcSrv.Stop()
		<-stopped
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("grpc server: %w", err)
	}
	return nil
}

// selfNode describes this node for the registry.
func (s *Server) selfNode() cluster.Node {
	mem := s.mem.read()
	return cluster.Node{
		ID:          s.nodeID,
		Version:     s.version,
		HTTPAddr:    s.httpAdv,
		GRPCAddr:    s.grpcAddr,
		StartedMs:   s.started.UnixMilli(),
		Connections: s.engine.Stats().Open,
		Users:       int64(s.hub.Count()),
		RSSBytes:    mem.rss,
		PSSBytes:    mem.pss,
		Draining:    s.draining.Load(),
	}
}

// localUser describes app/user's newest session when logged in on this node.
func (s *Server) localUser(app uint32, user string) (cluster.User, bool) {
	sess := s.hub.Lookup(app, user)
	if sess == nil {
		return cluster.User{}, false
	}
	return s.sessionUser(sess)
}

// localSessions describes app/user's sessions on this node, oldest first.
func (s *Server) localSessions(app uint32, user string) []cluster.User {
	ss := s.hub.Sessions(app, user)
	out := make([]cluster.User, 0, len(ss))
	for _, sess := range slices.Backward(ss) {
		if u, ok := s.sessionUser(sess); ok {
			out = append(out, u)
		}
	}
	return out
}

func (s *Server) sessionUser(sess *hub.Session) (cluster.User, bool) {
	ms := sess.LoginMs()
	if ms == 0 {
		return cluster.User{}, false
	}
	return cluster.User{App: sess.App(), ID: sess.User(), Node: s.nodeID, LoginMs: ms, Addr: remoteAddr(sess.Conn())}, true
}

// localUsers lists the sessions here, for a presence rewrite: a user's one after the
// other, oldest first.
func (s *Server) localUsers() iter.Seq[cluster.User] {
	return func(yield func(cluster.User) bool) {
		for app := range s.hub.Apps() {
			for _, user := range s.hub.Users(app) {
				for _, u := range s.localSessions(app, user) {
					if !yield(u) {
						return
					}
				}
			}
		}
	}
}

func remoteAddr(c any) string {
	if rc, ok := c.(interface{ RemoteAddr() netip.AddrPort }); ok {
		return conn.AddrString(rc.RemoteAddr())
	}
	return ""
}

func (s *Server) syncPeers(peers []cluster.Node) {
	if s.peers == nil {
		return
	}
	s.peers.Sync(targets(peers))
	s.log.Info("cluster peers changed", "peers", len(peers))
}

func targets(nodes []cluster.Node) []rpc.Target {
	out := make([]rpc.Target, len(nodes))
	for i, n := range nodes {
		out[i] = rpc.Target{ID: n.ID, Addr: n.GRPCAddr}
	}
	return out
}

// takeover closes, on its node, the session that a login here replaced (or pushed past
// max_conns_per_user). The kick names the session's login time, so that only that
// session is closed.
func (s *Server) takeover(old, by cluster.User) {
	if old.Node == s.nodeID {
		if s.kickLocal(old.App, old.ID, 0, old.LoginMs, protocol.CloseKickout, "logged in elsewhere") > 0 {
			s.metrics.duplicates.WithLabelValues("kicked").Inc()
		}
		return
	}
	n, ok := s.broker.Node(old.Node)
	if !ok || s.peers == nil {
		return
	}
	select {
	case s.kickSlots <- struct{}{}:
	default:
		s.metrics.cluster.takeoverSkipped.Inc()
		return
	}
	s.kicks.Go(func() {
		defer func() { <-s.kickSlots }()
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Cluster.RPCTimeout)
		defer cancel()
		k, err := s.peers.KickSession(ctx, rpc.Target{ID: n.ID, Addr: n.GRPCAddr}, old.App, old.ID, old.LoginMs,
			uint32(protocol.CloseKickout), protocol.CloseKickout.Text())
		s.log.Debug("older session on another node kicked", "app_id", old.App, "user_id", old.ID,
			"node_id", old.Node, "kicked", k, "err", err)
	})
}

// kickLocal closes app/user's sessions here that logged in at or before beforeMs (0:
// any), or only the one that logged in at loginMs when that is not 0, and returns how
// many it closed; the node service calls it for other nodes.
func (s *Server) kickLocal(app uint32, user string, beforeMs, loginMs int64, code protocol.CloseCode, reason string) int {
	if reason == "" {
		reason = code.Text()
	}
	n := 0
	for _, sess := range s.hub.Sessions(app, user) {
		ms := sess.LoginMs()
		if ms == 0 || (loginMs != 0 && ms != loginMs) || (beforeMs != 0 && ms > beforeMs) {
			continue
		}
		if code == protocol.CloseKickout { // a newer login (here or elsewhere) replaced it
			sess.MarkReplaced()
		}
		s.kick(sess, code, reason)
		n++
	}
	return n
}

// clusterState is this node's view of the cluster for /system/state: the registry is
// read again first when this node's view is more than peersMaxAge old, so that a node
// that joined or left since the last renewal is counted right.
func (s *Server) clusterState(ctx context.Context) api.ClusterState {
	cs := api.ClusterState{Mode: "single", Nodes: 1 + len(s.broker.FreshPeers(ctx, peersMaxAge))}
	if s.redis != nil {
		up := s.redis.Stats().Up
		cs.Mode, cs.RedisUp = "redis", &up
	}
	return cs
}

// rpcState is this node's state for the node service.
func (s *Server) rpcState() *gowsv1.StateResponse {
	st := s.nodeState()
	return &gowsv1.StateResponse{
		NodeId: st.NodeID, Version: st.Version, StartedMs: s.started.UnixMilli(),
		Connections: st.Connections, Users: int64(st.Users), Rooms: int64(st.Rooms),
		RssBytes: st.RSSBytes, PssBytes: st.PSSBytes, Draining: st.Draining,
	}
}

// unavailable wraps a cluster failure as api.ErrUnavailable. A failure the store already
// describes ("look up user: cluster store unavailable: ...") is not described again: the
// answer says the operation and the outage once each ("push to bob: look up user: ...").
func unavailable(what string, err error) error {
	if errors.Is(err, cluster.ErrUnavailable) {
		if !strings.HasPrefix(err.Error(), what+":") {
			err = fmt.Errorf("%s: %w", what, err)
		}
		return storeUnavailable{err}
	}
	return fmt.Errorf("%s: %w: %w", what, api.ErrUnavailable, err)
}

// storeUnavailable is a cluster store failure that is also api.ErrUnavailable.
type storeUnavailable struct{ err error }

func (e storeUnavailable) Error() string   { return e.err.Error() }
func (e storeUnavailable) Unwrap() []error { return []error{e.err, api.ErrUnavailable} }

// elsewhere returns the live nodes other than this one that presence says hold a
// session of app/user (each once, in the order of their oldest session), and how many
// sessions they hold.
func (s *Server) elsewhere(ctx context.Context, app uint32, user string) ([]cluster.Node, int, error) {
	us, err := s.broker.Sessions(ctx, app, user)
	if err != nil {
		return nil, 0, err
	}
	var nodes []cluster.Node
	conns := 0
	for _, u := range us {
		if u.Node == s.nodeID {
			continue // here, presence lags the hub
		}
		n, live := s.broker.Node(u.Node)
		if !live {
			continue
		}
		conns++
		if !slices.ContainsFunc(nodes, func(o cluster.Node) bool { return o.ID == n.ID }) {
			nodes = append(nodes, n)
		}
	}
	return nodes, conns, nil
}

// errDelivered says that the nodes holding a user delivered a message id already: the
// push is a retry of one whose answer was lost (it timed out, then was delivered).
var errDelivered = errors.New("delivered already")

// sendRemote pushes payload to app/user's sessions on the other nodes presence names,
// one call per node, in parallel. It returns the connections reached and the nodes that
// failed; api.ErrNotOnline when there are none, errDelivered when the nodes that answered
// had delivered msgID (the client's message id, "" for none) already, and an error when
// none answered.
func (s *Server) sendRemote(ctx context.Context, app uint32, user, msgID string, payload []byte) (int, int, error) {
	nodes, _, err := s.elsewhere(ctx, app, user)
	if err != nil {
		return 0, 0, unavailable("push to "+user, err)
	}
	if len(nodes) == 0 || s.peers == nil {
		return 0, 0, fmt.Errorf("push to %s: %w", user, api.ErrNotOnline)
	}
	delivered, failed, duplicate := 0, 0, false
	var firstErr error
	for _, r := range s.peers.SendUserOn(ctx, targets(nodes), app, user, msgID, payload) {
		switch {
		case r.Err == nil:
			delivered += r.Value
		case errors.Is(r.Err, rpc.ErrDuplicate): // a retry of what that node delivered
			duplicate = true
		case !errors.Is(r.Err, rpc.ErrNotFound): // gone from that node since: not a failure
			failed++
			firstErr = cmp.Or(firstErr, r.Err)
		}
	}
	switch {
	case delivered > 0:
		return delivered, failed, nil
	case duplicate:
		return 0, failed, errDelivered
	case firstErr != nil:
		return 0, failed, unavailable("push to "+user, firstErr)
	}
	return 0, 0, fmt.Errorf("push to %s: %w", user, api.ErrNotOnline)
}

// peersMaxAge is how old the registry view of a fan-out to every peer (a broadcast, a
// room's member list) may be: older, it is read again first, so a node that joined since
// the last renewal is not left out. At most one extra Redis call per second per node.
const peersMaxAge = time.Second

// broadcastRemote pushes payload to an app (room "") or a room on every peer, in
// parallel, leaving out the user except ("" for none), and returns the connections
// reached and how many peers failed.
func (s *Server) broadcastRemote(ctx context.Context, app uint32, room, except string, payload []byte) (int, int) {
	peers := s.broker.FreshPeers(ctx, peersMaxAge)
	if len(peers) == 0 || s.peers == nil {
		return 0, 0
	}
	var rs []rpc.Result[int]
	if room == "" {
		rs = s.peers.SendApp(ctx, targets(peers), app, except, payload)
	} else {
		rs = s.peers.SendRoom(ctx, targets(peers), app, room, except, payload)
	}
	n, failed := 0, 0
	for _, r := range rs {
		if r.Err != nil {
			failed++
			continue
		}
		n += r.Value
	}
	return n, failed
}

// roomUsers lists a room's members on every node, sorted. Room membership is not in
// Redis (joining a room costs no Redis write), so the nodes are asked; a peer that does
// not answer within the deadline is left out and counted in failed.
func (s *Server) roomUsers(ctx context.Context, app uint32, room string) (all []string, failed int) {
	all = s.hub.RoomUsers(app, room)
	if peers := s.broker.FreshPeers(ctx, peersMaxAge); len(peers) > 0 && s.peers != nil {
		for _, r := range s.peers.Users(ctx, targets(peers), app, room) {
			if r.Err != nil {
				failed++
				continue
			}
			all = append(all, r.Value...)
		}
		slices.Sort(all)
		all = slices.Compact(all)
	}
	return all, failed
}

// nodes lists the cluster's live nodes for /system/nodes; this node's counts are
// current, the others' are from their last lease renewal.
func (s *Server) nodes(ctx context.Context) ([]api.NodeState, error) {
	ns, err := s.broker.Nodes(ctx)
	if err != nil {
		return nil, unavailable("list nodes", err)
	}
	out := make([]api.NodeState, len(ns))
	seen := false
	var ask []rpc.Target
	var at []int // the index in out of each node asked
	for i, n := range ns {
		if n.ID == s.nodeID {
			hb := n.HeartbeatMs
			n = s.selfNode()
			n.HeartbeatMs = hb
			seen = true
			out[i] = nodeState(n, true)
			out[i].Live = true
			continue
		}
		out[i] = nodeState(n, false)
		if s.peers == nil || n.GRPCAddr == "" {
			continue
		}
		ask = append(ask, rpc.Target{ID: n.ID, Addr: n.GRPCAddr})
		at = append(at, i)
	}
	// The registry's figures are up to a renewal old; ask the nodes for their own now,
	// keeping the registry's for a node that does not answer within the RPC deadline.
	if len(ask) > 0 {
		for j, r := range s.peers.StateOn(ctx, ask) {
			if r.Err != nil {
				continue
			}
			st, o := r.Value, &out[at[j]]
			o.Connections, o.Users, o.RSSBytes, o.PSSBytes, o.Draining = st.Connections, st.Users, st.RssBytes, st.PssBytes, st.Draining
			o.Live = true
		}
	}
	if !seen { // not registered yet (Redis just came back)
		self := nodeState(s.selfNode(), true)
		self.Live = true
		out = append(out, self)
	}
	slices.SortFunc(out, func(a, b api.NodeState) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out, nil
}

func nodeState(n cluster.Node, self bool) api.NodeState {
	st := api.NodeState{
		NodeID: n.ID, Version: n.Version, HTTPAddr: n.HTTPAddr, GRPCAddr: n.GRPCAddr,
		StartedAt: time.UnixMilli(n.StartedMs).UTC().Format(time.RFC3339), Connections: n.Connections,
		Users: n.Users, RSSBytes: n.RSSBytes, PSSBytes: n.PSSBytes, Draining: n.Draining, Self: self,
	}
	if n.HeartbeatMs > 0 {
		st.HeartbeatAt = time.UnixMilli(n.HeartbeatMs).UTC().Format(time.RFC3339Nano)
	}
	return st
}

// kickRemote kicks app/user's sessions on the other nodes presence names, for
// /user/kick, and returns how many it closed.
func (s *Server) kickRemote(ctx context.Context, app uint32, user, reason string) (int, error) {
	nodes, _, err := s.elsewhere(ctx, app, user)
	if err != nil {
		return 0, unavailable("kick "+user, err)
	}
	if len(nodes) == 0 || s.peers == nil {
		return 0, nil
	}
	kicked := 0
	var errs []error
	for _, r := range s.peers.KickOn(ctx, targets(nodes), app, user, uint32(protocol.CloseAdminKick), reason) {
		kicked += r.Value
		errs = append(errs, r.Err)
	}
	if err := errors.Join(errs...); err != nil && kicked == 0 {
		return 0, unavailable("kick "+user, err)
	}
	return kicked, nil
}

// cameOnline tells u's app that its user came online (enter), wentOffline that it went
// offline (exit). The broker calls them after a login or logout (Hooks.OnOnline,
// OnOffline).
func (s *Server) cameOnline(u cluster.User) {
	s.notify(u.App, "", s.hub.AppCount(u.App), protocol.CmdEnter, u.ID)
}

func (s *Server) wentOffline(u cluster.User) {
	s.notify(u.App, "", s.hub.AppCount(u.App), protocol.CmdExit, u.ID)
}

// userConns counts app/user's connections for duplicate_login: reject: this node's, and
// unless they already reach the limit, the other nodes' (when Redis cannot say, those
// count as none and the login is let through).
func (s *Server) userConns(ctx context.Context, app uint32, user string) (here, others int) {
	here = s.hub.Conns(app, user)
	if limit := s.cfg.MaxConnsPerUser; limit > 0 && here >= limit {
		return here, 0
	}
	if _, n, err := s.elsewhere(ctx, app, user); err == nil {
		others = n
	}
	return here, others
}
