package server

import (
	"bytes"
	stdlog "log"
	"log/slog"
	"strings"
	"testing"
)

// net/http's log lines reach the node's log at warn, but a failed TLS handshake, which
// any scanner causes, only at debug.
func TestHTTPErrorLog_TLSHandshakeFailuresAreDebug(t *testing.T) {
	var out bytes.Buffer
	l := stdlog.New(httpErrorLog{slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}, "", 0)
	l.Printf("http: TLS handshake error from 127.0.0.1:5555: client sent an HTTP request to an HTTPS server")
	l.Printf("http: panic serving 127.0.0.1:5556: boom")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 ||
		!strings.Contains(lines[0], "level=DEBUG") || !strings.Contains(lines[0], "TLS handshake error") ||
		!strings.Contains(lines[1], "level=WARN") || !strings.Contains(lines[1], `msg="http: panic serving 127.0.0.1:5556: boom"`) {
		t.Fatalf("logged:\n%s", out.String())
	}
}
