package wsframe

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// rfcKey is the Sec-WebSocket-Key of RFC 6455 section 1.3; rfcAccept is its answer.
const (
	rfcKey    = "dGhlIHNhbXBsZSBub25jZQ=="
	rfcAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
)

func TestAcceptKey_RFCExample(t *testing.T) {
	if got := AcceptKey(rfcKey); got != rfcAccept {
		t.Fatalf("AcceptKey(%q) = %q, want %q", rfcKey, got, rfcAccept)
	}
}

func TestNewKey_Is16RandomBytes(t *testing.T) {
	a, b := NewKey(), NewKey()
	for _, k := range []string{a, b} {
		raw, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(raw) != 16 {
			t.Fatalf("key %q: %d bytes, %v", k, len(raw), err)
		}
	}
	if a == b {
		t.Fatal("two keys are equal")
	}
}

func TestHeaderEnd(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "empty", in: "", want: 0},
		{name: "one line", in: "GET / HTTP/1.1\r\n", want: 0},
		{name: "LF only", in: "GET / HTTP/1.1\n\n", want: 0},
		{name: "complete", in: "GET / HTTP/1.1\r\nHost: x\r\n\r\n", want: 27},
		{name: "complete with frame bytes after it", in: "GET / HTTP/1.1\r\n\r\n\x81\x80", want: 18},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HeaderEnd([]byte(tt.in)); got != tt.want {
				t.Fatalf("HeaderEnd = %d, want %d", got, tt.want)
			}
		})
	}
}

// rfcRequest is the client handshake of RFC 6455 section 1.2.
const rfcRequest = "GET /chat HTTP/1.1\r\n" +
	"Host: server.example.com\r\n" +
	"Upgrade: websocket\r\n" +
	"Connection: Upgrade\r\n" +
	"Sec-WebSocket-Key: " + rfcKey + "\r\n" +
	"Origin: http://example.com\r\n" +
	"Sec-WebSocket-Protocol: chat, superchat\r\n" +
	"Sec-WebSocket-Version: 13\r\n\r\n"

func TestParseUpgrade_Accepts(t *testing.T) {
	tests := []struct {
		name       string
		head       string
		wantPath   string
		wantOrigin string
	}{
		{name: "RFC example", head: rfcRequest, wantPath: "/chat", wantOrigin: "http://example.com"},
		{name: "our client request", head: string(AppendClientRequest(nil, "127.0.0.1:8089", "/acc?x=1", rfcKey, "")), wantPath: "/acc"},
		{name: "our client request with origin", head: string(AppendClientRequest(nil, "h:1", "/acc", rfcKey, "http://h:8080")), wantPath: "/acc", wantOrigin: "http://h:8080"},
		{
			name: "token lists and odd case",
			head: "GET /acc HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, UPGRADE\r\nUpgrade: h2c, WebSocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + rfcKey + "\r\n\r\n",
			wantPath: "/acc",
		},
		{
			name: "Connection header repeated",
			head: "GET /acc HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + rfcKey + "\r\n\r\n",
			wantPath: "/acc",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseUpgrade([]byte(tt.head))
			if err != nil {
				t.Fatalf("ParseUpgrade: %v", err)
			}
			if r.URL.Path != tt.wantPath || r.Header.Get("Origin") != tt.wantOrigin {
				t.Fatalf("path %q origin %q, want %q %q", r.URL.Path, r.Header.Get("Origin"), tt.wantPath, tt.wantOrigin)
			}
		})
	}
}

func TestParseUpgrade_Refusals(t *testing.T) {
	const key = "Sec-WebSocket-Key: " + rfcKey + "\r\n"
	const ok = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
	tests := []struct {
		name       string
		head       string
		wantStatus int
		wantMsg    string // a substring of the message
		wantHeader string // a response header the refusal must carry, "Name: value"
	}{
		{name: "not HTTP", head: "hello\r\n\r\n", wantStatus: 400, wantMsg: "malformed"},
		{name: "empty", head: "", wantStatus: 400, wantMsg: "malformed"},
		{name: "bad request line", head: "GET\r\n\r\n", wantStatus: 400, wantMsg: "malformed"},
		{name: "POST", head: "POST /acc HTTP/1.1\r\nHost: h\r\n" + ok + key + "\r\n", wantStatus: 405, wantMsg: "GET", wantHeader: "Allow: GET"},
		{name: "HTTP/1.0", head: "GET /acc HTTP/1.0\r\nHost: h\r\n" + ok + key + "\r\n", wantStatus: 400, wantMsg: "HTTP/1.1"},
		{name: "plain GET", head: "GET /acc HTTP/1.1\r\nHost: h\r\n\r\n", wantStatus: 426, wantMsg: "Upgrade: websocket", wantHeader: "Upgrade: websocket"},
		{name: "no Connection: Upgrade", head: "GET /acc HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n" + key + "\r\n", wantStatus: 426, wantMsg: "websocket"},
		{name: "upgrade to h2c", head: "GET /acc HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" + key + "\r\n", wantStatus: 426, wantMsg: "websocket"},
		{name: "version 8", head: "GET /acc HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n" + key + "\r\n", wantStatus: 426, wantMsg: "version", wantHeader: "Sec-Websocket-Version: 13"},
		{name: "no version", head: "GET /acc HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" + key + "\r\n", wantStatus: 426, wantMsg: "version", wantHeader: "Sec-Websocket-Version: 13"},
		{name: "no Host", head: "GET /acc HTTP/1.1\r\n" + ok + key + "\r\n", wantStatus: 400, wantMsg: "Host"},
		{name: "empty Host", head: "GET /acc HTTP/1.1\r\nHost: \r\n" + ok + key + "\r\n", wantStatus: 400, wantMsg: "Host"},
		{name: "no key", head: "GET /acc HTTP/1.1\r\nHost: h\r\n" + ok + "\r\n", wantStatus: 400, wantMsg: "Sec-WebSocket-Key"},
		{name: "key not base64", head: "GET /acc HTTP/1.1\r\nHost: h\r\n" + ok + "Sec-WebSocket-Key: !!!!\r\n\r\n", wantStatus: 400, wantMsg: "Sec-WebSocket-Key"},
		{name: "key of 15 bytes", head: "GET /acc HTTP/1.1\r\nHost: h\r\n" + ok + "Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 15)) + "\r\n\r\n", wantStatus: 400, wantMsg: "Sec-WebSocket-Key"},
		{name: "key of 17 bytes", head: "GET /acc HTTP/1.1\r\nHost: h\r\n" + ok + "Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(make([]byte, 17)) + "\r\n\r\n", wantStatus: 400, wantMsg: "Sec-WebSocket-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseUpgrade([]byte(tt.head))
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("want *HandshakeError, got %v", err)
			}
			if he.Status != tt.wantStatus || !strings.Contains(he.Msg, tt.wantMsg) {
				t.Fatalf("got %d %q, want %d containing %q", he.Status, he.Msg, tt.wantStatus, tt.wantMsg)
			}
			resp := readRefusal(t, he)
			if tt.wantHeader != "" {
				name, val, _ := strings.Cut(tt.wantHeader, ": ")
				if got := resp.Header.Get(name); got != val {
					t.Fatalf("refusal header %s = %q, want %q", name, got, val)
				}
			}
		})
	}
}

// readRefusal renders he with AppendRefusal and parses it back as an HTTP response.
func readRefusal(t *testing.T, he *HandshakeError) *http.Response {
	t.Helper()
	raw := AppendRefusal(nil, he)
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("refusal %q is not an HTTP response: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != he.Status || string(body) != he.Msg+"\n" || !resp.Close {
		t.Fatalf("refusal parsed as %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if !strings.Contains(he.Error(), he.Msg) {
		t.Fatalf("Error() = %q does not carry the message", he.Error())
	}
	return resp
}

func TestAppendRefusal_CustomStatus(t *testing.T) {
	tests := []struct {
		name string
		he   *HandshakeError
	}{
		{name: "forbidden origin", he: &HandshakeError{Status: http.StatusForbidden, Msg: "origin not allowed"}},
		{name: "overload", he: &HandshakeError{Status: http.StatusServiceUnavailable, Msg: "server is at its connection limit"}},
		{name: "not found", he: &HandshakeError{Status: http.StatusNotFound, Msg: "no such endpoint", Header: http.Header{"X-A": {"1", "2"}}}},
		{name: "unicode message", he: &HandshakeError{Status: http.StatusBadRequest, Msg: "mauvaise requête"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := readRefusal(t, tt.he)
			for name, vals := range tt.he.Header {
				if got := resp.Header.Values(name); strings.Join(got, ",") != strings.Join(vals, ",") {
					t.Fatalf("header %s = %v, want %v", name, got, vals)
				}
			}
		})
	}
}

func TestCheckResponse(t *testing.T) {
	accept := string(AppendAccept(nil, rfcKey))
	tests := []struct {
		name       string
		head       string
		key        string
		wantStatus int
		wantErr    bool
		badAccept  bool
	}{
		{name: "our accept", head: accept, key: rfcKey, wantStatus: 101},
		{name: "RFC example answer", head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + rfcAccept + "\r\n\r\n", key: rfcKey, wantStatus: 101},
		{name: "answer for another key", head: accept, key: NewKey(), wantStatus: 101, wantErr: true, badAccept: true},
		{name: "no accept header", head: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", key: rfcKey, wantStatus: 101, wantErr: true, badAccept: true},
		{name: "refused", head: string(AppendRefusal(nil, &HandshakeError{Status: 403, Msg: "origin not allowed"})), key: rfcKey, wantStatus: 403, wantErr: true},
		{name: "plain 200", head: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", key: rfcKey, wantStatus: 200, wantErr: true},
		{name: "garbage", head: "SSH-2.0-OpenSSH\r\n\r\n", key: rfcKey, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, err := CheckResponse([]byte(tt.head), tt.key)
			if status != tt.wantStatus || (err != nil) != tt.wantErr {
				t.Fatalf("got %d, %v; want %d, error %v", status, err, tt.wantStatus, tt.wantErr)
			}
			if errors.Is(err, ErrBadAccept) != tt.badAccept {
				t.Fatalf("errors.Is(err, ErrBadAccept) = %v, want %v", errors.Is(err, ErrBadAccept), tt.badAccept)
			}
		})
	}
}

func TestAppendAccept_RFCExample(t *testing.T) {
	want := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + rfcAccept + "\r\n\r\n"
	if got := string(AppendAccept(nil, rfcKey)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BenchmarkParseUpgrade measures reading a typical upgrade request, once per connection.
func BenchmarkParseUpgrade(b *testing.B) {
	head := []byte("GET /acc HTTP/1.1\r\nHost: 127.0.0.1:8089\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseUpgrade(head); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAcceptedFast(t *testing.T) {
	accept := AcceptKey(rfcKey)
	for _, tt := range []struct {
		head string
		want bool
	}{
		{string(AppendAccept(nil, rfcKey)), true},
		{"HTTP/1.1 101 Switching Protocols\r\nServer: nginx\r\nDate: Sat, 28 Nov 2026 06:00:00 GMT\r\nConnection: upgrade\r\nUpgrade: websocket\r\nsec-websocket-accept: " + accept + "\r\n\r\n", true},
		{"HTTP/1.1 101 x\r\nSec-WebSocket-Accept:" + accept + "  \r\n\r\n", true},
		// Everything else is left to net/http.
		{"HTTP/1.1 101\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.0 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + "\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: wrong\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\n Folded: x\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nBad Name: x\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nX: \x01\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\n", false},
		{"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + "\r\n\r\nextra", false},
		{"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: " + accept + "\r\n", false},
	} {
		if got := acceptedFast([]byte(tt.head), accept); got != tt.want {
			t.Errorf("acceptedFast(%q) = %v, want %v", tt.head, got, tt.want)
		}
		if tt.want {
			if st, err := checkResponseSlow([]byte(tt.head), rfcKey); st != http.StatusSwitchingProtocols || err != nil {
				t.Errorf("net/http answers %d %v for %q", st, err, tt.head)
			}
		}
	}
}

// BenchmarkCheckResponse measures a client reading the answer to its upgrade.
func BenchmarkCheckResponse(b *testing.B) {
	head := AppendAccept(nil, rfcKey)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := CheckResponse(head, rfcKey); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("net-http", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := checkResponseSlow(head, rfcKey); err != nil {
				b.Fatal(err)
			}
		}
	})
}
