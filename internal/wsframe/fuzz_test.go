package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"testing"
	"unicode/utf8"
)

// FuzzParseHeader parses arbitrary bytes as a frame header. It must never panic, never
// claim more bytes than it was given, and a parsed header must re-encode (with minimal
// length encoding) to bytes that parse to the same header.
func FuzzParseHeader(f *testing.F) {
	mask := [4]byte{1, 2, 3, 4}
	f.Add(AppendHeader(nil, true, OpText, 5, &mask))
	f.Add(AppendHeader(nil, false, OpBinary, 70000, nil))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) || n != 0 {
				t.Fatalf("error %v with n %d", err, n)
			}
			return
		}
		if n == 0 {
			if len(b) >= MaxHeaderLen {
				t.Fatalf("%d bytes are always a whole header, got nothing", len(b))
			}
			return
		}
		if n < 2 || n > MaxHeaderLen || n > len(b) || h.Length < 0 {
			t.Fatalf("n = %d of %d bytes, length %d", n, len(b), h.Length)
		}
		var m *[4]byte
		if h.Masked {
			m = &h.Mask
		}
		enc := AppendHeader(nil, h.Fin, h.Op, int(h.Length), m)
		enc[0] |= h.Rsv << 4
		h2, n2, err := ParseHeader(enc)
		if err != nil || n2 != len(enc) || h2 != h {
			t.Fatalf("re-encoded %+v as % x: parsed %+v, %d, %v", h, enc, h2, n2, err)
		}
		if n2 > n {
			t.Fatalf("minimal encoding is longer (%d) than the input's (%d)", n2, n)
		}
		_ = h.Check() // must not panic; its verdicts are covered by TestHeader_Check
	})
}

// FuzzUTF8 checks the incremental validator against utf8.Valid with the input split at
// two arbitrary points.
func FuzzUTF8(f *testing.F) {
	f.Add([]byte("κόσμε"), uint16(3), uint16(5))
	f.Add([]byte("\xed\xa0\x80"), uint16(1), uint16(2))
	f.Add([]byte("\xf0\x9f\x98\x80"), uint16(2), uint16(2))
	f.Fuzz(func(t *testing.T, b []byte, s1, s2 uint16) {
		i := int(s1) % (len(b) + 1)
		j := i + int(s2)%(len(b)-i+1)
		if got, want := feedAll(b[:i], b[i:j], b[j:]), utf8.Valid(b); got != want {
			t.Fatalf("% x split at %d,%d: got %v, want %v", b, i, j, got, want)
		}
	})
}

// FuzzParseUpgrade parses arbitrary bytes as an upgrade request. It must never panic; an
// accepted request must be answerable (AppendAccept then CheckResponse succeeds); a
// refusal must be a *HandshakeError whose rendered response is valid HTTP.
func FuzzParseUpgrade(f *testing.F) {
	f.Add([]byte(rfcRequest))
	f.Add(AppendClientRequest(nil, "127.0.0.1:8089", "/acc", rfcKey, "http://127.0.0.1:8080"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Fuzz(func(t *testing.T, head []byte) {
		r, err := ParseUpgrade(head)
		if err != nil {
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Fatalf("error %T is not a *HandshakeError: %v", err, err)
			}
			switch he.Status {
			case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUpgradeRequired:
			default:
				t.Fatalf("unexpected status %d", he.Status)
			}
			resp, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(AppendRefusal(nil, he))), nil)
			if rerr != nil || resp.StatusCode != he.Status {
				t.Fatalf("refusal does not parse: %v", rerr)
			}
			return
		}
		if r == nil || r.Method != http.MethodGet {
			t.Fatalf("accepted %+v", r)
		}
		key := r.Header.Get("Sec-Websocket-Key")
		if status, err := CheckResponse(AppendAccept(nil, key), key); status != http.StatusSwitchingProtocols || err != nil {
			t.Fatalf("answer for key %q: %d %v", key, status, err)
		}
	})
}

// FuzzCheckResponse checks that the fast reading of an upgrade answer accepts only what
// net/http's reading accepts, and that CheckResponse never panics.
func FuzzCheckResponse(f *testing.F) {
	f.Add(string(AppendAccept(nil, "dGhlIHNhbXBsZSBub25jZQ==")), "dGhlIHNhbXBsZSBub25jZQ==")
	f.Add("HTTP/1.1 101 OK\r\nsec-websocket-accept:\ts3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\nX-A: b\r\n\r\n", "dGhlIHNhbXBsZSBub25jZQ==")
	f.Add("HTTP/1.1 101 Switching Protocols\r\nContent-Length: 5\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", "dGhlIHNhbXBsZSBub25jZQ==")
	f.Add("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", "x")
	f.Fuzz(func(t *testing.T, head, key string) {
		status, err := CheckResponse([]byte(head), key)
		if acceptedFast([]byte(head), AcceptKey(key)) {
			if st, err := checkResponseSlow([]byte(head), key); st != http.StatusSwitchingProtocols || err != nil {
				t.Fatalf("fast path accepted %q, net/http answers %d %v", head, st, err)
			}
		}
		if err == nil && status != http.StatusSwitchingProtocols {
			t.Fatalf("accepted with status %d", status)
		}
	})
}
