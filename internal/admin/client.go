// Package admin is a typed client of gows' HTTP API for operators and scripts: online
// users (paged), presence, pushes, kicks and node state. `gows admin` is a thin command
// line over it.
//
// Every method takes a context first and returns one of three kinds of error: an
// *APIError when the server answered and refused (its code and message included;
// errors.Is(err, ErrNotOnline) for a user who is not online), an *UnreachableError when
// no gows API answered at the configured address, and an *InputError for a bad argument
// caught before anything was sent.
package admin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/trust"
)

// defaultServer is the address of a node started with `gows serve` and no settings.
const defaultServer = "http://127.0.0.1:8080"

// maxAnswerBytes bounds an answer body; the largest, a page of 10,000 user ids, is well
// under a megabyte.
const maxAnswerBytes = 32 << 20

// Config configures a Client.
type Config struct {
	// Server is the base URL of a node's HTTP API. "host:port" means http://host:port; a
	// path ("https://gw.example.com/gows") is kept as a prefix of every route.
	Server string `mapstructure:"server"`
	// Token, when not "", is sent with every request as "Authorization: Bearer <token>".
	Token string `mapstructure:"token"`
	// Timeout bounds each request, from connecting to reading the whole answer; 0 means
	// no bound besides the context's.
	Timeout time.Duration `mapstructure:"timeout"`
	// CACert, when not "", is a PEM file of certificates that an https Server's
	// certificate may chain to, besides the system's roots: a private CA, or a node's own
	// self-signed certificate.
	CACert string `mapstructure:"cacert"`
	// HTTPClient sends the requests; nil means one of the Client's own (with the proxy
	// settings of http.DefaultTransport), whose idle connections Close releases.
	HTTPClient *http.Client `mapstructure:"-"`
}

// Default returns the settings for a node on this machine with default settings.
func Default() Config {
	return Config{Server: defaultServer, Timeout: 10 * time.Second}
}

// Validate reports the first invalid setting as an *InputError.
func (c Config) Validate() error {
	if _, err := parseServer(c.Server); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return &InputError{Field: "timeout", Msg: fmt.Sprintf("must not be negative, got %s", c.Timeout)}
	}
	return nil
}

// parseServer turns Config.Server into a base URL without a trailing slash.
func parseServer(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, &InputError{Field: "server", Msg: "is required"}
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, &InputError{Field: "server", Msg: fmt.Sprintf("want http://host:port or https://host[:port][/prefix], got %q", s)}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// Client calls one gows node's HTTP API. It is safe for concurrent use. Call Close when
// done with it.
type Client struct {
	base    *url.URL
	addr    string // base without credentials, for errors
	token   string
	timeout time.Duration
	hc      *http.Client
	ownHC   bool // hc was made by New; Close releases its connections
}

// New returns a client for cfg after validating it.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, _ := parseServer(cfg.Server) // validated above
	c := &Client{base: base, addr: base.Redacted(), token: cfg.Token, timeout: cfg.Timeout, hc: cfg.HTTPClient}
	if c.hc == nil {
		tr, ok := http.DefaultTransport.(*http.Transport)
		if !ok {
			return nil, errors.New("http.DefaultTransport is not an *http.Transport")
		}
		own := tr.Clone()
		if cfg.CACert != "" {
			roots, err := trust.Roots(cfg.CACert)
			if err != nil {
				return nil, &InputError{Field: "cacert", Msg: err.Error()}
			}
			own.TLSClientConfig = &tls.Config{RootCAs: roots}
		}
		c.hc, c.ownHC = &http.Client{Transport: own}, true
	}
	return c, nil
}

// Close releases the idle connections of the client's own HTTP client. A Config's
// HTTPClient is left alone.
func (c *Client) Close() error {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// envelope is the body of every API answer.
type envelope struct {
	Code *protocol.Code  `json:"code"`
	Msg  string          `json:"msg"`
	Data json.RawMessage `json:"data"`
}

// get calls a read route with query parameters and decodes its data into v.
func (c *Client) get(ctx context.Context, path string, q url.Values, v any) (json.RawMessage, error) {
	return c.do(ctx, http.MethodGet, path, q, nil, v)
}

// post calls a write route with body as a JSON object and decodes its data into v.
func (c *Client) post(ctx context.Context, path string, body any, v any) (json.RawMessage, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode %s request: %w", path, err)
	}
	return c.do(ctx, http.MethodPost, path, nil, b, v)
}

// do sends one request and returns the answer's data exactly as sent, after decoding it
// into v (unless v is nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte, v any) (json.RawMessage, error) {
	op := method + " " + path
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	rctx := ctx
	if c.timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(rctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, op, err)
	}
	var env envelope
	if len(raw) > maxAnswerBytes || json.Unmarshal(raw, &env) != nil || env.Code == nil {
		return nil, &UnreachableError{Addr: c.addr, Op: op, Err: fmt.Errorf("the answer is not from a gows API (HTTP %d, %s)",
			resp.StatusCode, cmp.Or(resp.Header.Get("Content-Type"), "no content type"))}
	}
	if resp.StatusCode != http.StatusOK || *env.Code != protocol.OK {
		return nil, &APIError{Op: op, Status: resp.StatusCode, Code: *env.Code, Msg: env.Msg, Data: env.Data}
	}
	if v != nil {
		if err := json.Unmarshal(env.Data, v); err != nil {
			return nil, fmt.Errorf("decode %s answer: %w", op, err)
		}
	}
	return env.Data, nil
}

// transportError classifies a failed round trip: the caller's context ending is returned
// as such; anything else (refused, reset, timed out) means the server cannot be reached.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", op, ctx.Err())
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err // its message repeats the method and the URL
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no answer within %s: %w", c.timeout, err)
	}
	return &UnreachableError{Addr: c.addr, Op: op, Err: err}
}
