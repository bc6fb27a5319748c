package server

import (
	"context"
	"sync/atomic"
	"time"
)

// Presence notices across a cluster. A join or leave tells the users of the same small
// room on this node at once (see notify), and queues the notice here for the other
// nodes; a login or logout queues its app notice here for this node's users as well. One
// goroutine sends the queued notices, one at a time, to every peer as the frame this
// node encoded, through the same SendApp and SendRoom calls a broadcast uses. So the
// login path never waits for a peer, and forwarding costs at most one fan-out in flight
// per node.
//
// The bound on apps is cluster-wide: an app notice goes out, here and to the peers, only
// while the app has at most presence_limit users on all nodes together, a figure read
// from the presence store at most once per noticeCountAge per app (in a big app the
// local gate in notify stops nearly all notices first; this one stops the rest). Room
// membership is not stored cluster-wide, so room notices are gated by the room's size on
// this node. A notice that finds the queue full is dropped, counted and logged; when the
// node stops, what is queued (the exits of its last connections) is still forwarded,
// within one RPC timeout, and the rest dropped and counted. One the app's size rules out
// is counted as skipped.

const (
	noticeQueue    = 1024        // notices waiting to be forwarded
	noticeCountAge = time.Second // how long an app's cluster-wide size is reused
	noticeCounts   = 1024        // apps whose size is remembered; the memo restarts beyond
)

// notice is one presence notice to forward: the JSON text of the push, for the users of
// app, or of room in it, except user, whom it is about.
type notice struct {
	app     uint32
	room    string
	user    string
	payload []byte
	here    bool // this node's users have not been told yet
}

// appSize is an app's cluster-wide user count and when it was read.
type appSize struct {
	users int
	at    time.Time
}

// noticeForwarder forwards presence notices to the cluster's other nodes. add is safe
// for concurrent use; run is its one sending goroutine.
type noticeForwarder struct {
	s     *Server
	queue chan notice
	sizes map[uint32]appSize // owned by run

	forwarded atomic.Uint64 // notices sent to the peers
	skipped   atomic.Uint64 // app notices not forwarded: the app is above presence_limit
	dropped   atomic.Uint64 // notices lost: queue full, or queued when the node stopped
}

func newNoticeForwarder(s *Server) *noticeForwarder {
	return &noticeForwarder{s: s, queue: make(chan notice, noticeQueue), sizes: map[uint32]appSize{}}
}

// add queues n without waiting.
func (f *noticeForwarder) add(n notice) {
	select {
	case f.queue <- n:
	default:
		f.drop(1, "queue full")
	}
}

func (f *noticeForwarder) drop(n int, reason string) {
	total := f.dropped.Add(uint64(n))
	if total == uint64(n) || total/1000 != (total-uint64(n))/1000 { // the first, then every 1000th
		f.s.log.Warn("presence notices not forwarded to the other nodes", "reason", reason, "count", n, "dropped_total", total)
	}
}

// run forwards queued notices until ctx is cancelled, then what is still queued within
// one RPC timeout; the rest is dropped (and counted). A notice being sent when ctx is
// cancelled is finished: each send has its own RPC timeout.
func (f *noticeForwarder) run(ctx context.Context) {
	sendCtx := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			f.flush(sendCtx)
			return
		case n := <-f.queue:
			f.forward(sendCtx, n)
		}
	}
}

// flush forwards the notices still queued when the node stops: the exits of its last
// connections, which the other nodes' users would otherwise never hear of.
func (f *noticeForwarder) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, f.s.cfg.Cluster.RPCTimeout)
	defer cancel()
	for {
		select {
		case n := <-f.queue:
			if ctx.Err() != nil {
				f.drop(1+len(f.queue), "node stopping")
				return
			}
			f.forward(ctx, n)
		default:
			return
		}
	}
}

func (f *noticeForwarder) forward(ctx context.Context, n notice) {
	if len(f.s.broker.FreshPeers(ctx, peersMaxAge)) == 0 {
		f.tellHere(n) // alone: this node's size, checked in notify, is the app's
		return
	}
	if n.room == "" && !f.small(ctx, n.app) {
		f.skipped.Add(1)
		return
	}
	f.tellHere(n)
	rctx, cancel := context.WithTimeout(ctx, f.s.cfg.Cluster.RPCTimeout)
	defer cancel()
	if _, failed := f.s.broadcastRemote(rctx, n.app, n.room, n.user, n.payload); failed > 0 {
		f.s.log.Debug("presence notice not delivered to every node", "app_id", n.app, "room", n.room, "nodes_failed", failed)
	}
	f.forwarded.Add(1)
}

// tellHere tells this node's users the notice if notify left that to the forwarder.
func (f *noticeForwarder) tellHere(n notice) {
	if n.here {
		f.s.tellHere(n)
	}
}

// small reports whether app has at most presence_limit users across the cluster. An
// app whose size cannot be read counts as big: no notice beats a flood of them.
func (f *noticeForwarder) small(ctx context.Context, app uint32) bool {
	now := time.Now()
	sz, ok := f.sizes[app]
	if !ok || now.Sub(sz.at) >= noticeCountAge {
		cctx, cancel := context.WithTimeout(ctx, f.s.cfg.Cluster.RedisTimeout)
		page, err := f.s.broker.Users(cctx, app, "", 1)
		cancel()
		if err != nil {
			return false
		}
		if len(f.sizes) >= noticeCounts {
			clear(f.sizes)
		}
		sz = appSize{users: page.Total, at: now}
		f.sizes[app] = sz
	}
	return sz.users <= f.s.cfg.PresenceLimit
}
