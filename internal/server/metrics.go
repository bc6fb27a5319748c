package server

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gows-dev/gows/internal/server/conn"
)

// metrics holds the node's Prometheus registry and the counters the server increments
// itself; engine and hub figures are read at scrape time.
type metrics struct {
	reg       *prometheus.Registry
	logins    prometheus.Counter
	busy      prometheus.Counter
	commands  *prometheus.CounterVec
	pushes    *prometheus.CounterVec
	pushTotal atomic.Uint64 // accepted pushes, for /system/state
	cluster   *clusterMetrics

	authFailures prometheus.Counter
	rateLimited  prometheus.Counter
	adminRefused prometheus.Counter
	unanswered   prometheus.Counter
	joinsRefused *prometheus.CounterVec // by reason: joinRefusalReasons
	duplicates   *prometheus.CounterVec // by result: kicked, rejected
}

// joinRefusalReasons are the reasons a join is refused, as gows_room_joins_refused_total
// labels them: the connection is at max_rooms, the room argument is invalid, or the
// connection has not logged in.
var joinRefusalReasons = []string{"max_rooms", "bad_request", "not_logged_in"}

func newMetrics(s *Server) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gows_logins_total", Help: "Successful WebSocket logins."}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gows_busy_rejections_total", Help: "WebSocket messages answered 'server busy' because the command queue was full."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gows_commands_total", Help: "WebSocket commands received, by command."}, []string{"cmd"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gows_pushes_total", Help: "Push requests (HTTP API and WebSocket send), by target and result."}, []string{"target", "result"}),
	}
	m.authFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gows_auth_failures_total", Help: "Logins and refreshes refused for a missing, invalid, expired or mismatched token (code 1003)."})
	m.rateLimited = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gows_rate_limited_total", Help: "Inbound WebSocket messages refused by the per-connection rate limit."})
	m.adminRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gows_admin_refused_total", Help: "Admin HTTP requests refused (401 without the token, 403 from clients not on this machine)."})
	m.unanswered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gows_answers_undelivered_total", Help: "Answers to WebSocket commands not sent because the connection was closing (the client closed, or was closed, before its answer was ready)."})
	m.joinsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gows_room_joins_refused_total", Help: "WebSocket joins refused, by reason (max_rooms, bad_request, not_logged_in)."}, []string{"reason"})
	for _, r := range joinRefusalReasons {
		m.joinsRefused.WithLabelValues(r) // every reason is exported from the start, at 0
	}
	m.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gows_duplicate_logins_total", Help: "Logins past a user's max_conns_per_user connections (duplicate_login), by result: kicked (an older connection here closed with 4001, one per connection) or rejected (the new login refused)."}, []string{"result"})
	m.duplicates.WithLabelValues("kicked")
	m.duplicates.WithLabelValues("rejected")
	e := s.engine
	stat := func(f func(conn.Snapshot) float64) func() float64 {
		return func() float64 { return f(e.Stats()) }
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	counter := func(name, help string, f func(conn.Snapshot) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, stat(f))
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.logins, m.busy, m.commands, m.pushes, m.authFailures, m.rateLimited, m.adminRefused, m.unanswered, m.joinsRefused, m.duplicates,
		gauge("gows_connections", "Open (upgraded) WebSocket connections.", stat(func(x conn.Snapshot) float64 { return float64(x.Open) })),
		gauge("gows_connections_handshaking", "Accepted sockets not yet upgraded (TLS handshakes included).", stat(func(x conn.Snapshot) float64 { return float64(x.Handshaking) })),
		gauge("gows_users", "Logged-in users on this node.", func() float64 { return float64(s.hub.Count()) }),
		gauge("gows_rooms", "Non-empty rooms on this node.", func() float64 { return float64(s.hub.Rooms()) }),
		gauge("gows_max_connections", "Connection cap of this node.", func() float64 { return float64(e.MaxConns()) }),
		counter("gows_connections_accepted_total", "Sockets accepted.", func(x conn.Snapshot) float64 { return float64(x.Accepted) }),
		counter("gows_messages_in_total", "WebSocket messages received.", func(x conn.Snapshot) float64 { return float64(x.MessagesIn) }),
		counter("gows_messages_out_total", "WebSocket frames given to connections to send (gows_dropped_frames_total of them were never written).", func(x conn.Snapshot) float64 { return float64(x.FramesOut) }),
		counter("gows_bytes_in_total", "Bytes read from WebSocket connections.", func(x conn.Snapshot) float64 { return float64(x.BytesIn) }),
		counter("gows_bytes_out_total", "Bytes written to WebSocket connections.", func(x conn.Snapshot) float64 { return float64(x.BytesOut) }),
		counter("gows_slow_consumer_disconnects_total", "Connections closed (1013) because their send queue was full.", func(x conn.Snapshot) float64 { return float64(x.SlowConsumers) }),
		counter("gows_dropped_frames_total", "Frames given to connections and never written: discarded when a slow consumer was closed, or when a connection closed (timeout, reset, drain) with frames queued.", func(x conn.Snapshot) float64 { return float64(x.FramesDropped) }),
		counter("gows_write_timeouts_total", "Connections dropped because queued output stalled past write_timeout.", func(x conn.Snapshot) float64 { return float64(x.WriteTimeouts) }),
		counter("gows_idle_timeouts_total", "Connections closed (4003) for silence past heartbeat_timeout.", func(x conn.Snapshot) float64 { return float64(x.IdleTimeouts) }),
		counter("gows_deadline_closes_total", "Connections closed by a session deadline (login timeout 4002, token expiry 4005).", func(x conn.Snapshot) float64 { return float64(x.Deadlines) }),
		counter("gows_protocol_errors_total", "Connections failed for RFC 6455 violations (1002).", func(x conn.Snapshot) float64 { return float64(x.ProtocolErrors) }),
		counter("gows_invalid_utf8_total", "Connections failed for invalid UTF-8 text (1007).", func(x conn.Snapshot) float64 { return float64(x.InvalidUTF8) }),
		counter("gows_message_too_big_total", "Connections failed for messages above max_message_bytes (1009).", func(x conn.Snapshot) float64 { return float64(x.TooBig) }),
		counter("gows_accept_pauses_total", "Times accepting paused because the file limit was reached.", func(x conn.Snapshot) float64 { return float64(x.AcceptPauses) }),
		counter("gows_tls_handshake_failures_total", "Failed TLS handshakes on the WebSocket port.", func(x conn.Snapshot) float64 { return float64(x.TLSFailures) }),
		handshakeFailures{e: e},
	)
	m.cluster = newClusterMetrics(s, m.reg)
	return m
}

// handshakeFailures exports the engine's refused handshakes by reason.
type handshakeFailures struct{ e *conn.Engine }

var handshakeDesc = prometheus.NewDesc("gows_handshake_failures_total",
	"Refused or abandoned WebSocket handshakes, by reason.", []string{"reason"}, nil)

func (h handshakeFailures) Describe(ch chan<- *prometheus.Desc) { ch <- handshakeDesc }

func (h handshakeFailures) Collect(ch chan<- prometheus.Metric) {
	st := h.e.Stats()
	for _, r := range []struct {
		reason string
		n      uint64
	}{
		{"bad_request", st.RefusedBadRequest}, {"forbidden", st.RefusedForbidden},
		{"overloaded", st.RefusedOverload}, {"timeout", st.RefusedTimeout}, {"not_found", st.RefusedNotFound},
		{"per_ip_limit", st.RefusedPerIP},
	} {
		ch <- prometheus.MustNewConstMetric(handshakeDesc, prometheus.CounterValue, float64(r.n), r.reason)
	}
}

// pushed counts a push outcome.
func (m *metrics) pushed(target, result string) {
	m.pushes.WithLabelValues(target, result).Inc()
	if result == "ok" {
		m.pushTotal.Add(1)
	}
}
