package server

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/status"

	"github.com/gows-dev/gows/internal/server/cluster"
)

// clusterMetrics are the cluster's figures: Redis health and presence writes (read from
// the broker at scrape time) and calls to peer nodes.
type clusterMetrics struct {
	rpcCalls        *prometheus.CounterVec
	rpcSeconds      *prometheus.HistogramVec
	takeoverSkipped prometheus.Counter
}

func newClusterMetrics(s *Server, reg *prometheus.Registry) *clusterMetrics {
	m := &clusterMetrics{
		rpcCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gows_cluster_rpc_calls_total", Help: "gRPC calls to peer nodes, by method and status code."}, []string{"method", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gows_cluster_rpc_seconds", Help: "Latency of gRPC calls to peer nodes.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"method"}),
		takeoverSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gows_cluster_takeover_kicks_skipped_total", Help: "Kicks of sessions replaced by a login on this node skipped because too many were in flight."}),
	}
	reg.MustRegister(m.rpcCalls, m.rpcSeconds, m.takeoverSkipped,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gows_cluster_nodes", Help: "Live nodes this node routes to, itself included."},
			func() float64 { return float64(1 + len(s.broker.Peers())) }))
	if f := s.notices; f != nil {
		notices := func(name, help string, c *atomic.Uint64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(c.Load()) })
		}
		reg.MustRegister(
			notices("gows_cluster_notices_forwarded_total", "Presence notices (enter, exit) sent to the other nodes.", &f.forwarded),
			notices("gows_cluster_notices_skipped_total", "App presence notices not forwarded because the app has more than presence_limit users in the cluster.", &f.skipped),
			notices("gows_cluster_notices_dropped_total", "Presence notices lost: the forwarding queue was full, or the node stopped.", &f.dropped),
		)
	}
	if r := s.redis; r != nil {
		stat := func(f func(cluster.RedisStats) float64) func() float64 { return func() float64 { return f(r.Stats()) } }
		counter := func(name, help string, f func(cluster.RedisStats) float64) prometheus.Collector {
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, stat(f))
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gows_cluster_redis_up", Help: "1 while the last Redis call succeeded, 0 during an outage."},
				stat(func(x cluster.RedisStats) float64 {
					if x.Up {
						return 1
					}
					return 0
				})),
			counter("gows_cluster_redis_errors_total", "Failed Redis calls.", func(x cluster.RedisStats) float64 { return float64(x.Errors) }),
			counter("gows_cluster_redis_outages_total", "Times Redis became unreachable.", func(x cluster.RedisStats) float64 { return float64(x.Outages) }),
			counter("gows_cluster_presence_writes_total", "Presence operations (logins, logouts) written to Redis.", func(x cluster.RedisStats) float64 { return float64(x.Writes) }),
			counter("gows_cluster_presence_batches_total", "Pipelines that wrote them.", func(x cluster.RedisStats) float64 { return float64(x.Batches) }),
			counter("gows_cluster_presence_dropped_total", "Presence operations dropped (Redis down or queue full) and repaired by a rewrite.", func(x cluster.RedisStats) float64 { return float64(x.Dropped) }),
			counter("gows_cluster_presence_resyncs_total", "Rewrites of this node's presence (after an outage or a lost lease).", func(x cluster.RedisStats) float64 { return float64(x.Resyncs) }),
			counter("gows_cluster_takeovers_total", "Logins here that replaced a session on another node.", func(x cluster.RedisStats) float64 { return float64(x.Takeovers) }),
			counter("gows_cluster_dead_nodes_collected_total", "Dead nodes this node removed from the registry.", func(x cluster.RedisStats) float64 { return float64(x.Collected) }),
		)
	}
	return m
}

// rpcCall records one call to a peer.
func (m *clusterMetrics) rpcCall(method string, err error, took time.Duration) {
	m.rpcCalls.WithLabelValues(method, status.Code(err).String()).Inc()
	m.rpcSeconds.WithLabelValues(method).Observe(took.Seconds())
}
