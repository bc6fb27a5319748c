package conn

import (
	"net/http"
	"sync/atomic"
)

// Stats are the engine's counters. Read them with Engine.Stats.
type Stats struct {
	accepted, upgraded, closed                 atomic.Uint64
	handshaking, open                          atomic.Int64
	framesIn, framesOut, framesDropped         atomic.Uint64
	bytesIn, bytesOut, messagesIn              atomic.Uint64
	slowConsumers, writeTimeouts               atomic.Uint64
	idleTimeouts, deadlines                    atomic.Uint64
	protocolErrors, invalidUTF8, tooBig        atomic.Uint64
	acceptFileLimit, tlsFailures               atomic.Uint64
	refusedBadRequest, refusedForbidden        atomic.Uint64
	refusedOverload, refusedTimeout, refusedNA atomic.Uint64
	refusedPerIP                               atomic.Uint64
}

func (s *Stats) refused(status int) {
	switch status {
	case http.StatusTooManyRequests:
		s.refusedPerIP.Add(1)
	case http.StatusForbidden, http.StatusUnauthorized:
		s.refusedForbidden.Add(1)
	case http.StatusServiceUnavailable:
		s.refusedOverload.Add(1)
	case http.StatusRequestTimeout:
		s.refusedTimeout.Add(1)
	case http.StatusNotFound:
		s.refusedNA.Add(1)
	default:
		s.refusedBadRequest.Add(1)
	}
}

// Snapshot is a point-in-time copy of the engine's counters.
type Snapshot struct {
	Accepted       uint64 // sockets accepted
	Upgraded       uint64 // handshakes completed
	Closed         uint64 // upgraded connections closed
	Handshaking    int64  // sockets accepted and not yet upgraded (TLS handshakes included)
	Open           int64  // upgraded connections not yet closed
	FramesIn       uint64
	FramesOut      uint64 // frames given to the socket or queued for it (FramesDropped of them were not sent)
	FramesDropped  uint64 // frames given to a connection and never sent: discarded when it was closed as a slow consumer, or closed (write or close timeout, reset, drain) before they were written
	BytesIn        uint64
	BytesOut       uint64
	MessagesIn     uint64 // complete data messages delivered to the handler
	SlowConsumers  uint64 // connections closed because their send queue was full
	WriteTimeouts  uint64 // connections dropped because queued output stalled
	IdleTimeouts   uint64 // connections closed for sending nothing within IdleTimeout
	Deadlines      uint64 // connections closed by a handler deadline (e.g. login timeout)
	ProtocolErrors uint64 // RFC 6455 violations (close 1002)
	InvalidUTF8    uint64 // text that is not UTF-8 (close 1007)
	TooBig         uint64 // messages above the read limit (close 1009)
	AcceptPauses   uint64 // times accept paused because the file limit was reached
	TLSFailures    uint64 // failed TLS handshakes
	// Refused handshakes by kind.
	RefusedBadRequest, RefusedForbidden, RefusedOverload, RefusedTimeout, RefusedNotFound uint64
	RefusedPerIP                                                                          uint64 // over MaxConnsPerIP
}

// HandshakeFailures sums the refused handshakes.
func (s Snapshot) HandshakeFailures() uint64 {
	return s.RefusedBadRequest + s.RefusedForbidden + s.RefusedOverload + s.RefusedTimeout + s.RefusedNotFound + s.RefusedPerIP
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Snapshot {
	s := &e.stats
	return Snapshot{
		Accepted: s.accepted.Load(), Upgraded: s.upgraded.Load(), Closed: s.closed.Load(),
		Handshaking: s.handshaking.Load() + e.tlsPending.Load(), Open: s.open.Load(),
		FramesIn: s.framesIn.Load(), FramesOut: s.framesOut.Load(), FramesDropped: s.framesDropped.Load(),
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), MessagesIn: s.messagesIn.Load(),
		SlowConsumers: s.slowConsumers.Load(), WriteTimeouts: s.writeTimeouts.Load(),
		IdleTimeouts: s.idleTimeouts.Load(), Deadlines: s.deadlines.Load(),
		ProtocolErrors: s.protocolErrors.Load(), InvalidUTF8: s.invalidUTF8.Load(), TooBig: s.tooBig.Load(),
		AcceptPauses: s.acceptFileLimit.Load(), TLSFailures: s.tlsFailures.Load(),
		RefusedBadRequest: s.refusedBadRequest.Load(), RefusedForbidden: s.refusedForbidden.Load(),
		RefusedOverload: s.refusedOverload.Load(), RefusedTimeout: s.refusedTimeout.Load(),
		RefusedNotFound: s.refusedNA.Load(), RefusedPerIP: s.refusedPerIP.Load(),
	}
}
