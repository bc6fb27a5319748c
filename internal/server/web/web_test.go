package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/server/conn"
)

func serve(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

var configRE = regexp.MustCompile(`(?s)<script id="gows-config" type="application/json">(.*?)</script>`)

// pageConfigOf extracts and decodes the config document rendered into the page.
func pageConfigOf(t *testing.T, body string) pageConfig {
	t.Helper()
	m := configRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("page has no gows-config element:\n%s", body)
	}
	var pc pageConfig
	if err := json.Unmarshal([]byte(m[1]), &pc); err != nil {
		t.Fatalf("decode gows-config %q: %v", m[1], err)
	}
	return pc
}

func TestHandler_ServesPageWithConfig(t *testing.T) {
	tests := []struct {
		name string
		path string
		cfg  Config
		want pageConfig
	}{
		{
			name: "root derives from port and path",
			path: "/",
			cfg:  Config{WSPort: 8089, WSPath: "/acc"},
			want: pageConfig{WSPort: 8089, WSPath: "/acc"},
		},
		{
			name: "presence limit",
			path: "/",
			cfg:  Config{WSPort: 8089, PresenceLimit: 200},
			want: pageConfig{WSPort: 8089, WSPath: "/acc", PresenceLimit: 200},
		},
		{
			name: "heartbeat timeout in milliseconds",
			path: "/",
			cfg:  Config{WSPort: 8089, HeartbeatTimeout: 5 * time.Second},
			want: pageConfig{WSPort: 8089, WSPath: "/acc", HeartbeatMs: 5000},
		},
		{
			name: "seed address",
			path: "/home/index",
			cfg:  Config{WSPort: 9000, WSPath: "/ws"},
			want: pageConfig{WSPort: 9000, WSPath: "/ws"},
		},
		{
			name: "zero config uses the default path",
			path: "/",
			want: pageConfig{WSPath: "/acc"},
		},
		{
			name: "public URL",
			path: "/",
			cfg:  Config{PublicWSURL: "wss://chat.example.com/acc", WSPort: 8089, WSPath: "/acc"},
			want: pageConfig{WSURL: "wss://chat.example.com/acc", WSPort: 8089, WSPath: "/acc"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, Handler(tt.cfg), http.MethodGet, tt.path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control = %q, want no-cache", got)
			}
			if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
				t.Errorf("Content-Security-Policy = %q, want script-src 'self'", got)
			}
			if got := pageConfigOf(t, rec.Body.String()); got != tt.want {
				t.Errorf("config = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// Behind a proxy (nginx serving the page and /acc on one port, as deploy/nginx/gows.conf
// does) the page connects through the proxy, not to the node's own port.
func TestHandler_ProxiedPageUsesThePagePort(t *testing.T) {
	h := Handler(Config{WSPort: 8089, WSPath: "/acc"})
	for k := range strings.SplitSeq(conn.ForwardHeaders, ", ") {
		rec := serve(t, h, http.MethodGet, "/", http.Header{http.CanonicalHeaderKey(k): {"203.0.113.9"}})
		if got := pageConfigOf(t, rec.Body.String()); got != (pageConfig{WSPath: "/acc"}) {
			t.Errorf("forwarded with %s: config %+v, want the page's own port", k, got)
		}
		if !strings.Contains(rec.Header().Get("Vary"), k) {
			t.Errorf("Vary %q does not name %s", rec.Header().Get("Vary"), k)
		}
	}
	direct := serve(t, h, http.MethodGet, "/", nil)
	if got := pageConfigOf(t, direct.Body.String()); got.WSPort != 8089 {
		t.Errorf("direct: config %+v, want port 8089", got)
	}
	proxied := serve(t, h, http.MethodGet, "/", http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	if direct.Header().Get("ETag") == proxied.Header().Get("ETag") {
		t.Error("the two pages share an ETag")
	}
	pub := serve(t, Handler(Config{PublicWSURL: "wss://chat.example.com/acc", WSPort: 8089}), http.MethodGet, "/", http.Header{"X-Real-Ip": {"203.0.113.9"}})
	if got := pageConfigOf(t, pub.Body.String()); got.WSURL != "wss://chat.example.com/acc" {
		t.Errorf("a configured public URL is kept behind a proxy: %+v", got)
	}
	limited := serve(t, Handler(Config{PresenceLimit: 7, HeartbeatTimeout: time.Minute}), http.MethodGet, "/", http.Header{"X-Real-Ip": {"203.0.113.9"}})
	if got := pageConfigOf(t, limited.Body.String()); got.PresenceLimit != 7 || got.HeartbeatMs != 60000 {
		t.Errorf("the presence limit and heartbeat timeout are kept behind a proxy: %+v", got)
	}
}

func TestHandler_EscapesPublicWSURL(t *testing.T) {
	const hostile = `wss://x/</script><script>alert(1)</script>?a="b"&c='d'<!--`
	rec := serve(t, Handler(Config{PublicWSURL: hostile}), http.MethodGet, "/", nil)
	body := rec.Body.String()
	for _, bad := range []string{"<script>alert", "</script><script>", "<!--"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q:\n%s", bad, body)
		}
	}
	if got := pageConfigOf(t, body).WSURL; got != hostile {
		t.Errorf("wsURL = %q, want %q", got, hostile)
	}
}

func TestHandler_ServesAssetsReferencedByThePage(t *testing.T) {
	h := Handler(Config{})
	page := serve(t, h, http.MethodGet, "/", nil).Body.String()
	wantType := map[string]string{
		"/static/app.js":    "text/javascript; charset=utf-8",
		"/static/style.css": "text/css; charset=utf-8",
	}
	for path, ctype := range wantType {
		t.Run(path, func(t *testing.T) {
			if !strings.Contains(page, `"`+path+`"`) {
				t.Errorf("page does not reference %s", path)
			}
			rec := serve(t, h, http.MethodGet, path, nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			want, err := files.ReadFile(strings.TrimPrefix(path, "/"))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Body.String() != string(want) {
				t.Errorf("body differs from the embedded file")
			}
			for k, v := range map[string]string{
				"Content-Type":           ctype,
				"Cache-Control":          "no-cache",
				"X-Content-Type-Options": "nosniff",
			} {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
	// Every /static/ reference in the page must resolve.
	for _, m := range regexp.MustCompile(`(?:href|src)="(/static/[^"]+)"`).FindAllStringSubmatch(page, -1) {
		if _, ok := wantType[m[1]]; !ok {
			t.Errorf("page references %s, which this test does not check", m[1])
		}
	}
}

func TestHandler_RevalidatesWithETag(t *testing.T) {
	h := Handler(Config{WSPort: 8089})
	for _, path := range []string{"/", "/static/app.js"} {
		t.Run(path, func(t *testing.T) {
			etag := serve(t, h, http.MethodGet, path, nil).Header().Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			rec := serve(t, h, http.MethodGet, path, http.Header{"If-None-Match": {etag}})
			if rec.Code != http.StatusNotModified {
				t.Errorf("conditional GET status = %d, want 304", rec.Code)
			}
		})
	}
	if a, b := serve(t, Handler(Config{WSPort: 1}), http.MethodGet, "/", nil).Header().Get("ETag"),
		serve(t, Handler(Config{WSPort: 2}), http.MethodGet, "/", nil).Header().Get("ETag"); a == b {
		t.Errorf("pages with different configs share ETag %s", a)
	}
}

func TestHandler_UnknownPathsAreNotFound(t *testing.T) {
	h := Handler(Config{})
	for _, path := range []string{
		"/static/", "/static", "/static/nope.js", "/static/app.js/", "/static/../web.go",
		"/index.html", "/home/index/", "/home/", "/favicon.ico", "/acc",
	} {
		t.Run(path, func(t *testing.T) {
			if rec := serve(t, h, http.MethodGet, path, nil); rec.Code != http.StatusNotFound {
				t.Errorf("status = %d, want 404", rec.Code)
			}
		})
	}
}

func TestHandler_MethodsOtherThanGetAndHeadAreRefused(t *testing.T) {
	h := Handler(Config{})
	tests := []struct {
		name   string
		method string
		path   string
		want   int
	}{
		{name: "head page", method: http.MethodHead, path: "/", want: http.StatusOK},
		{name: "head asset", method: http.MethodHead, path: "/static/style.css", want: http.StatusOK},
		{name: "post page", method: http.MethodPost, path: "/", want: http.StatusMethodNotAllowed},
		{name: "delete asset", method: http.MethodDelete, path: "/static/app.js", want: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(t, h, tt.method, tt.path, nil)
			if rec.Code != tt.want {
				t.Fatalf("status = %d, want %d", rec.Code, tt.want)
			}
			if tt.want == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q, want GET, HEAD", rec.Header().Get("Allow"))
			}
			if tt.method == http.MethodHead && rec.Body.Len() != 0 {
				t.Errorf("HEAD answered with a %d-byte body", rec.Body.Len())
			}
		})
	}
}
