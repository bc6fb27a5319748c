package api

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gows-dev/gows/internal/protocol"
)

// MaxKickReasonBytes bounds a kick's reason. The kickout push carries all of it; the close
// frame carries at most its first 123 bytes (RFC 6455 limits a close reason to that).
const MaxKickReasonBytes = 256

// KickResult is the outcome of a kick.
type KickResult struct {
	Kicked int `json:"kicked"` // connections closed
}

// kick closes a user's connections: POST /user/kick with appId, userId and an optional
// reason. Each connection gets a kickout push carrying the reason, then close code 4007
// (closed by an operator; clients do not reconnect automatically). A user who is not
// online answers 1005 (HTTP 404) with {"kicked":0}.
func (h *Handler) kick(w http.ResponseWriter, r *http.Request, p params) {
	app, user, err := p.appUser()
	if err != nil {
		writeErr(w, err)
		return
	}
	reason := p.get("reason")
	if len(reason) > MaxKickReasonBytes || !utf8.ValidString(reason) {
		writeErr(w, &ParamError{Field: "reason", Msg: fmt.Sprintf("must be at most %d bytes of UTF-8 text", MaxKickReasonBytes)})
		return
	}
	n, err := h.b.Kick(r.Context(), app, user, reason)
	if err != nil {
		if errors.Is(err, ErrNotOnline) {
			writeBody(w, http.StatusNotFound, protocol.NotData, fmt.Sprintf("user %s is not online", user), KickResult{})
			return
		}
		writeErr(w, err)
		return
	}
	writeOK(w, KickResult{Kicked: n})
}
