package api

import (
	"encoding/json"
	"net/http"

	"github.com/gows-dev/gows/internal/protocol"
)

// body is the seed-compatible answer body of every route.
type body struct {
	Code protocol.Code `json:"code"`
	Msg  string        `json:"msg"`
	Data any           `json:"data"`
}

func writeOK(w http.ResponseWriter, data any) {
	writeBody(w, http.StatusOK, protocol.OK, protocol.OK.Text(), data)
}

func writeError(w http.ResponseWriter, status int, code protocol.Code, msg string) {
	writeBody(w, status, code, msg, nil)
}

// WriteError writes an error answer in the API's shape; other handlers on the same server
// (auth middleware, unknown routes) use it so every answer looks alike.
func WriteError(w http.ResponseWriter, status int, code protocol.Code, msg string) {
	writeError(w, status, code, msg)
}

func writeBody(w http.ResponseWriter, status int, code protocol.Code, msg string, data any) {
	b, err := json.Marshal(body{Code: code, Msg: msg, Data: data})
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":1004,"msg":"encode answer failed","data":null}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a failed write means the client went away
}
