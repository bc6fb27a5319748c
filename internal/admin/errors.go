package admin

import (
	"errors"
	"fmt"

	"github.com/gows-dev/gows/internal/protocol"
)

// ErrNotOnline matches (with errors.Is) an *APIError that says the target user is not
// online (code 1005).
var ErrNotOnline = errors.New("user is not online")

// APIError is an answer of the server that is not a success: it refused the request
// (bad parameter, not authorised, user not online, cluster unavailable, ...). Code and Msg
// are the server's; Data is the answer's data, often null.
type APIError struct {
	Op     string        // the request, e.g. "POST /user/sendMessage"
	Status int           // HTTP status
	Code   protocol.Code // the body's code
	Msg    string        // the body's msg
	Data   []byte        // the body's data as sent
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (code %d, HTTP %d)", e.Msg, e.Code, e.Status)
}

// Is reports whether e means target: ErrNotOnline for code 1005.
func (e *APIError) Is(target error) bool {
	return target == ErrNotOnline && e.Code == protocol.NotData
}

// UnreachableError means no gows API answered at Addr: the connection failed, the answer
// did not come within the timeout, or what answered is not a gows API.
type UnreachableError struct {
	Addr string // the server's base URL, without credentials
	Op   string // the request, e.g. "GET /system/state"
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach gows server at %s (%s): %v", e.Addr, e.Op, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// InputError is a bad argument, found before anything is sent. Field names the
// parameter (as the API spells it) or the Config field.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }
