// Package web serves the embedded browser chat page: one HTML page and its script and
// style sheet, with no build step and nothing fetched from the internet.
//
// The page learns where the WebSocket endpoint is from a small JSON document that the
// handler renders into the page (a <script type="application/json" id="gows-config">
// element, escaped by html/template). The page reads it and, unless a URL is configured,
// derives ws(s)://<page host>:<WSPort><WSPath> from its own location, so the same binary
// works on a laptop and behind a TLS-terminating proxy. A page that a proxy forwarded
// (the request carries X-Forwarded-For, X-Forwarded-Host, Forwarded or X-Real-IP) uses
// the page's own port instead: the proxy publishes the endpoint next to the page, as
// deploy/nginx/gows.conf does, and the node's port may not be reachable at all.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/gows-dev/gows/internal/server/conn"
)

//go:embed index.html static
var files embed.FS

// indexTmpl is parsed once; the template is part of the binary, so a parse error is a
// programming error that the package's tests catch.
var indexTmpl = template.Must(template.ParseFS(files, "index.html"))

// Config tells the page where the WebSocket endpoint is. The zero value makes the page
// connect to ws://<page host>:<page port>/acc.
type Config struct {
	// PublicWSURL is the full WebSocket URL the page connects to
	// ("wss://chat.example.com/acc"). "" means derive it from the page's location,
	// WSPort and WSPath; use it when a proxy publishes the endpoint elsewhere.
	PublicWSURL string
	// WSPort is the TCP port of the WebSocket listener used when deriving the URL for a
	// request that came straight to the node; 0 means the page's own port. Requests a
	// proxy forwarded always use the page's own port.
	WSPort int
	// WSPath is the WebSocket endpoint's path used when deriving the URL; "" means "/acc".
	WSPath string
	// PresenceLimit is the server's presence_limit: enter/exit notices come only in apps
	// of at most this many users. In bigger apps, and when it is 0 (notices off), the page
	// polls the online users instead.
	PresenceLimit int
	// HeartbeatTimeout is the server's heartbeat_timeout: a connection silent for it is
	// closed (4003). The page keeps its session alive well within it; 0 means the page's
	// own pace (a request at least every 30 s), which suits the default of 6 minutes.
	HeartbeatTimeout time.Duration
	// Refuse answers a request the page cannot serve: an unknown path, /static/ files
	// included (404), or a method other than GET and HEAD (405, with the Allow header
	// already set). nil means a plain-text answer.
	Refuse func(w http.ResponseWriter, status int, msg string)
}

// pageConfig is the JSON document rendered into the page for static/app.js.
type pageConfig struct {
	WSURL  string `json:"wsURL"`
	WSPort int    `json:"wsPort"`
	WSPath string `json:"wsPath"`
	// PresenceLimit is Config.PresenceLimit.
	PresenceLimit int `json:"presenceLimit"`
	// HeartbeatMs is Config.HeartbeatTimeout in milliseconds (0: not given).
	HeartbeatMs int64 `json:"heartbeatMs"`
}

// contentSecurityPolicy allows only the page's own script and style, and WebSocket
// connections anywhere (the endpoint is on another port, or configured, or overridden
// with ?ws= for debugging). The config element is JSON data, not executed script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; " +
	"frame-ancestors 'none'"

// contentTypes maps the embedded files' extensions to their media types. It is explicit
// rather than mime.TypeByExtension, whose answers depend on the host's mime tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// asset is one file ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

func newAsset(name string, body []byte) asset {
	sum := sha256.Sum256(body)
	return asset{
		body:        body,
		contentType: contentTypes[path.Ext(name)],
		etag:        `"` + hex.EncodeToString(sum[:12]) + `"`,
	}
}

// handler serves the rendered page and the static files; it is immutable after
// construction and so safe for concurrent use.
type handler struct {
	page    asset            // for requests straight to the node
	proxied asset            // for requests a proxy forwarded: the endpoint on the page's port
	static  map[string]asset // keyed by request path, e.g. "/static/app.js"
	refuse  func(w http.ResponseWriter, status int, msg string)
}

// Handler returns the chat page's handler, safe for concurrent use. It serves
//
//	GET /             the chat page
//	GET /home/index   the same page (the seed's address)
//	GET /static/...   the page's script and style sheet
//
// and answers 404 for any other path and 405 for methods other than GET and HEAD, so it
// may be mounted at "/" or on just those patterns. Responses carry Cache-Control:
// no-cache and an ETag, so browsers revalidate and never run a stale script against a
// newer server.
func Handler(cfg Config) http.Handler {
	wsPath := cfg.WSPath
	if wsPath == "" {
		wsPath = "/acc"
	}
	direct := pageConfig{
		WSURL:         cfg.PublicWSURL,
		WSPort:        cfg.WSPort,
		WSPath:        wsPath,
		PresenceLimit: cfg.PresenceLimit,
		HeartbeatMs:   cfg.HeartbeatTimeout.Milliseconds(),
	}
	proxied := direct
	proxied.WSPort = 0 // the proxy publishes the endpoint on the page's own port
	h := &handler{
		page:    render(direct),
		proxied: render(proxied),
		static:  map[string]asset{},
		refuse:  cfg.Refuse,
	}
	if h.refuse == nil {
		h.refuse = func(w http.ResponseWriter, status int, msg string) { http.Error(w, msg, status) }
	}
	// The embedded tree is fixed at build time; walking it cannot fail at run time.
	_ = fs.WalkDir(files, "static", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		h.static["/"+name] = newAsset(name, body)
		return nil
	})
	return h
}

// render renders the page for cfg.
func render(cfg pageConfig) asset {
	var page bytes.Buffer
	if err := indexTmpl.Execute(&page, cfg); err != nil {
		// Executing a parsed template with a struct of strings and ints cannot fail
		// unless the embedded template itself is broken, which the tests catch.
		panic("web: render index.html: " + err.Error())
	}
	return newAsset("index.html", page.Bytes())
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a asset
	switch p := r.URL.Path; {
	case p == "/" || p == "/home/index":
		a = h.page
		if conn.Forwarded(r) {
			a = h.proxied
		}
		w.Header().Set("Vary", conn.ForwardHeaders)
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("Referrer-Policy", "no-referrer")
	case strings.HasPrefix(p, "/static/"):
		var ok bool
		if a, ok = h.static[p]; !ok {
			h.refuse(w, http.StatusNotFound, "no route "+p)
			return
		}
	default:
		h.refuse(w, http.StatusNotFound, "no route "+p)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.refuse(w, http.StatusMethodNotAllowed, "use GET")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("ETag", a.etag)
	hdr.Set("X-Content-Type-Options", "nosniff")
	// ServeContent answers If-None-Match with 304 and handles HEAD and ranges; the zero
	// modification time keeps Last-Modified out, so the ETag alone decides.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}
