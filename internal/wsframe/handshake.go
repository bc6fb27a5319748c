package wsframe

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// acceptGUID is the fixed GUID of RFC 6455 section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func AcceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewKey returns a random Sec-WebSocket-Key.
func NewKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return base64.StdEncoding.EncodeToString(b[:])
}

// HeaderEnd returns the length of the HTTP head at the start of b (through the blank line),
// or 0 when b does not yet hold all of it.
func HeaderEnd(b []byte) int {
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return 0
	}
	return i + 4
}

// HandshakeError is a refused upgrade: the HTTP status and a message for the body.
type HandshakeError struct {
	Status int
	Msg    string
	Header http.Header // extra response headers, may be nil
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("handshake refused: %d %s", e.Status, e.Msg)
}

// ParseUpgrade parses a complete HTTP head (see HeaderEnd) as a WebSocket upgrade request
// and checks the RFC 6455 section 4.2.1 requirements. It returns the request (whose Body is
// empty) or a *HandshakeError saying how to answer.
func ParseUpgrade(head []byte) (*http.Request, error) {
	// A reader sized to the head: the whole request is already in memory, and the default
	// 4 KiB buffer was most of what a handshake allocated.
	r, err := http.ReadRequest(bufio.NewReaderSize(bytes.NewReader(head), len(head)))
	if err != nil {
		return nil, &HandshakeError{Status: http.StatusBadRequest, Msg: "malformed HTTP request"}
	}
	if r.Method != http.MethodGet {
		return r, &HandshakeError{Status: http.StatusMethodNotAllowed, Msg: "websocket handshake must use GET",
			Header: http.Header{"Allow": {"GET"}}}
	}
	if !r.ProtoAtLeast(1, 1) {
		return r, &HandshakeError{Status: http.StatusBadRequest, Msg: "websocket handshake needs HTTP/1.1"}
	}
	if r.Host == "" { // RFC 6455 section 4.2.1 and RFC 9112 section 3.2: answer 400
		return r, &HandshakeError{Status: http.StatusBadRequest, Msg: "missing Host header"}
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		return r, &HandshakeError{Status: http.StatusUpgradeRequired, Msg: "this is a websocket endpoint: send Upgrade: websocket",
			Header: http.Header{"Upgrade": {"websocket"}, "Sec-Websocket-Version": {"13"}}}
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		return r, &HandshakeError{Status: http.StatusUpgradeRequired, Msg: "unsupported websocket version",
			Header: http.Header{"Sec-Websocket-Version": {"13"}}}
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		return r, &HandshakeError{Status: http.StatusBadRequest, Msg: "missing or malformed Sec-WebSocket-Key"}
	}
	return r, nil
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// AppendAccept appends the 101 response that accepts the upgrade request with key.
func AppendAccept(dst []byte, key string) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, AcceptKey(key)...)
	return append(dst, "\r\n\r\n"...)
}

// AppendRefusal appends an HTTP error response for a refused handshake. The connection is
// closed after it.
func AppendRefusal(dst []byte, e *HandshakeError) []byte {
	body := e.Msg + "\n"
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(e.Status)...)
	dst = append(dst, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n"...)
	for name, vals := range e.Header {
		for _, v := range vals {
			dst = append(dst, name...)
			dst = append(dst, ": "...)
			dst = append(dst, v...)
			dst = append(dst, "\r\n"...)
		}
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}

// AppendClientRequest appends a client's upgrade request for path on host. origin may be
// empty (no Origin header, as non-browser clients do).
func AppendClientRequest(dst []byte, host, path, key, origin string) []byte {
	dst = append(dst, "GET "...)
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "...)
	dst = append(dst, key...)
	if origin != "" {
		dst = append(dst, "\r\nOrigin: "...)
		dst = append(dst, origin...)
	}
	return append(dst, "\r\n\r\n"...)
}

// ErrBadAccept is returned by CheckResponse when the server's Sec-WebSocket-Accept is wrong.
var ErrBadAccept = errors.New("bad Sec-WebSocket-Accept")

// CheckResponse parses a complete HTTP response head (see HeaderEnd) to a client's upgrade
// request sent with key. It returns the status code, and an error unless the status is 101
// with the right accept value.
func CheckResponse(head []byte, key string) (int, error) {
	if acceptedFast(head, AcceptKey(key)) {
		return http.StatusSwitchingProtocols, nil
	}
	return checkResponseSlow(head, key)
}

// checkResponseSlow is CheckResponse through net/http, for every answer acceptedFast
// does not take.
func checkResponseSlow(head []byte, key string) (int, error) {
	resp, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader(head), len(head)), nil)
	if err != nil {
		return 0, fmt.Errorf("malformed handshake response: %w", err)
	}
	_ = resp.Body.Close() // in-memory body; closing cannot fail
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return resp.StatusCode, fmt.Errorf("handshake status %d", resp.StatusCode)
	}
	if resp.Header.Get("Sec-Websocket-Accept") != AcceptKey(key) {
		return resp.StatusCode, ErrBadAccept
	}
	return resp.StatusCode, nil
}

// acceptedFast recognises, without net/http, the answer a client gets from nearly every
// server: "HTTP/1.1 101 <reason>", then header lines "Name: value" (token names, printable
// values), one of them Sec-WebSocket-Accept (any case) equal to accept, then the blank
// line that ends head. It answers false for anything else (which CheckResponse then reads
// through net/http), and true only where net/http would accept it too (FuzzCheckResponse
// compares the two). A client opening thousands of connections a second spent more on
// net/http's parsing and allocations than on the rest of its handshake.
func acceptedFast(head []byte, accept string) bool {
	rest, ok := bytes.CutPrefix(head, []byte("HTTP/1.1 101 "))
	if !ok {
		return false
	}
	reason, rest, ok := bytes.Cut(rest, []byte("\r\n"))
	if !ok || !printableValue(reason) {
		return false
	}
	found := false
	for {
		var line []byte
		if line, rest, ok = bytes.Cut(rest, []byte("\r\n")); !ok {
			return false
		}
		if len(line) == 0 {
			return found && len(rest) == 0
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !isToken(name) {
			return false
		}
		value = bytes.Trim(value, " \t")
		if !printableValue(value) {
			return false
		}
		switch {
		case bytes.EqualFold(name, []byte("Sec-WebSocket-Accept")):
			if found || string(value) != accept {
				return false
			}
			found = true
		case bytes.EqualFold(name, []byte("Content-Length")), bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return false // framing headers: net/http has rules for them
		}
	}
}

// isToken reports whether b is a non-empty HTTP token (RFC 9110 section 5.6.2).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// printableValue reports whether b holds only visible ASCII, spaces and tabs.
func printableValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}
