package protocol

import "strconv"

// Code is a result code carried in Response.Result.Code and in the HTTP API's "code" field.
// The values are the gowebsocket seed's.
type Code int

// Result codes.
const (
	OK                 Code = 200  // success
	NotLoggedIn        Code = 1000 // the command needs a logged-in connection
	ParameterIllegal   Code = 1001 // a field is missing or malformed; the message names it
	UnauthorizedUserID Code = 1002 // the user id is not acceptable (length, characters, app not allowed)
	Unauthorized       Code = 1003 // the login token is missing, invalid, expired or for another user
	ServerError        Code = 1004 // the server failed; retrying may help
	NotData            Code = 1005 // no data, e.g. the user is not online
	ModelAddError      Code = 1006 // kept from the seed; not used by gows
	ModelDeleteError   Code = 1007 // kept from the seed; not used by gows
	ModelStoreError    Code = 1008 // kept from the seed; not used by gows
	OperationFailure   Code = 1009 // the operation could not be done (rate limit, cluster unavailable, ...)
	RoutingNotExist    Code = 1010 // unknown cmd or HTTP route
)

// Text returns the code's standard message.
func (c Code) Text() string {
	switch c {
	case OK:
		return "Success"
	case NotLoggedIn:
		return "not logged in"
	case ParameterIllegal:
		return "parameter illegal"
	case UnauthorizedUserID:
		return "unauthorized user id"
	case Unauthorized:
		return "unauthorized"
	case ServerError:
		return "server error"
	case NotData:
		return "no data"
	case ModelAddError:
		return "add failed"
	case ModelDeleteError:
		return "delete failed"
	case ModelStoreError:
		return "store failed"
	case OperationFailure:
		return "operation failure"
	case RoutingNotExist:
		return "route does not exist"
	default:
		return "code " + strconv.Itoa(int(c))
	}
}

// CloseCode is a WebSocket close status code (RFC 6455 section 7.4). Codes 4000-4999 are
// gows application codes. Each constant's comment says whether a client should reconnect.
type CloseCode uint16

// Standard close codes gows sends.
const (
	CloseNormal          CloseCode = 1000 // normal closure (answer to a client close)
	CloseGoingAway       CloseCode = 1001 // server shutting down or draining: reconnect (to another node)
	CloseProtocolError   CloseCode = 1002 // RFC 6455 violation: fix the client; do not retry as is
	CloseUnsupportedData CloseCode = 1003 // binary frame on a text-only endpoint: terminal, fix the client
	CloseInvalidPayload  CloseCode = 1007 // text frame that is not valid UTF-8: terminal, fix the client
	ClosePolicyViolation CloseCode = 1008 // generic policy violation
	CloseMessageTooBig   CloseCode = 1009 // message above the read limit: do not resend it
	CloseInternalError   CloseCode = 1011 // server fault: reconnect with backoff
	CloseTryAgainLater   CloseCode = 1013 // slow consumer or overload: reconnect with backoff
)

// Application close codes (4000-4999).
const (
	CloseKickout          CloseCode = 4001 // same user logged in elsewhere: terminal, do not reconnect automatically
	CloseLoginTimeout     CloseCode = 4002 // no login within the login timeout: reconnect and log in promptly
	CloseHeartbeatTimeout CloseCode = 4003 // no heartbeat or other traffic within the timeout: reconnect
	CloseAuthFailed       CloseCode = 4004 // repeated failed logins: terminal until the token is fixed
	CloseTokenExpired     CloseCode = 4005 // the login token expired without refresh: reconnect with a new token
	CloseRateLimited      CloseCode = 4006 // sustained inbound rate abuse: reconnect after a backoff
	CloseAdminKick        CloseCode = 4007 // closed by an operator: terminal, do not reconnect automatically
	// CloseSlowConsumer is the code of a client whose send queue was full: 1013, reconnect
	// with backoff.
	CloseSlowConsumer CloseCode = CloseTryAgainLater
)

// Terminal reports whether a client should not reconnect automatically after this close code.
func (c CloseCode) Terminal() bool {
	switch c {
	case CloseKickout, CloseAuthFailed, CloseAdminKick, CloseProtocolError, CloseUnsupportedData,
		CloseInvalidPayload, CloseMessageTooBig:
		return true
	}
	return false
}

// Text returns a short English reason for the close code, used as the close frame's reason.
func (c CloseCode) Text() string {
	switch c {
	case CloseNormal:
		return "normal closure"
	case CloseGoingAway:
		return "server going away"
	case CloseProtocolError:
		return "protocol error"
	case CloseUnsupportedData:
		return "unsupported data"
	case CloseInvalidPayload:
		return "invalid UTF-8 in text message"
	case ClosePolicyViolation:
		return "policy violation"
	case CloseMessageTooBig:
		return "message too big"
	case CloseInternalError:
		return "internal server error"
	case CloseTryAgainLater:
		return "slow consumer or overload: try again later"
	case CloseKickout:
		return "logged in elsewhere"
	case CloseLoginTimeout:
		return "login timeout"
	case CloseHeartbeatTimeout:
		return "heartbeat timeout"
	case CloseAuthFailed:
		return "too many failed logins"
	case CloseTokenExpired:
		return "token expired"
	case CloseRateLimited:
		return "rate limit exceeded"
	case CloseAdminKick:
		return "closed by operator"
	}
	return "closed"
}
