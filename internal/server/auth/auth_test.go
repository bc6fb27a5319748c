package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestOriginPolicy_Allow(t *testing.T) {
	p, err := NewOriginPolicy([]string{"https://app.example.com:8443", "*.trusted.example", "plain.example",
		"https://default.example:443", "http://plain80.example:80", "[fd00::1]"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, origin, host string
		want               bool
	}{
		{"no origin", "", "gows.example:8089", true},
		{"same host other port", "http://gows.example:8080", "gows.example:8089", true},
		{"same host ipv6", "http://[::1]:8080", "[::1]:8089", true},
		{"same host case", "HTTP://GOWS.Example", "gows.example", true},
		{"exact origin", "https://app.example.com:8443", "gows.example", true},
		{"exact origin wrong port", "https://app.example.com", "gows.example", false},
		{"wildcard sub", "https://a.b.trusted.example", "gows.example", true},
		{"wildcard apex refused", "https://trusted.example", "gows.example", false},
		{"host entry any scheme", "http://plain.example:9999", "gows.example", true},
		{"suffix trick", "https://eviltrusted.example", "gows.example", false},
		{"cross site", "https://evil.example", "gows.example", false},
		{"null", "null", "gows.example", false},
		{"garbage", "::::", "gows.example", false},
		{"entry with the default https port", "https://default.example", "gows.example", true},
		{"entry with the default http port", "http://plain80.example", "gows.example", true},
		{"default port entry, other scheme", "http://default.example", "gows.example", false},
		{"origin with its default port", "https://default.example:443", "gows.example", true},
		{"ipv6 host entry", "http://[fd00::1]:3000", "gows.example", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Allow(tc.origin, tc.host); got != tc.want {
				t.Fatalf("Allow(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
			}
		})
	}
	any, _ := NewOriginPolicy([]string{"*"})
	if !any.Allow("https://evil.example", "gows.example") {
		t.Fatal(`"*" must allow any origin`)
	}
	for _, bad := range []string{"", "*.", "*.a/b", "https://x.example/path", "a/b",
		"chat.example.com:8443", "https://x.example?q=1", "https://u@x.example"} {
		if _, err := NewOriginPolicy([]string{bad}); err == nil {
			t.Errorf("NewOriginPolicy(%q) accepted", bad)
		}
	}
}

func TestAdminGuard_Check(t *testing.T) {
	open := NewAdminGuard("", nil)
	tok := NewAdminGuard("s3cret-token", nil)
	cases := []struct {
		name   string
		g      *AdminGuard
		remote string
		host   string // the Host header
		auth   string
		status int
	}{
		{"no token, loopback", open, "127.0.0.1:5000", "127.0.0.1:8080", "", 0},
		{"no token, loopback v6", open, "[::1]:5000", "127.0.0.1:8080", "", 0},
		{"no token, remote", open, "10.1.2.3:5000", "127.0.0.1:8080", "", 403},
		{"token, right", tok, "10.1.2.3:5000", "127.0.0.1:8080", "Bearer s3cret-token", 0},
		{"token, wrong", tok, "10.1.2.3:5000", "127.0.0.1:8080", "Bearer nope", 401},
		{"token, missing even on loopback", tok, "127.0.0.1:5000", "127.0.0.1:8080", "", 401},
		{"token, other scheme", tok, "10.1.2.3:5000", "127.0.0.1:8080", "Basic s3cret-token", 401},
		{"token, scheme in lower case", tok, "10.1.2.3:5000", "127.0.0.1:8080", "bearer s3cret-token", 0},
		{"token, as a suffix", tok, "10.1.2.3:5000", "127.0.0.1:8080", "Bearer xs3cret-token", 401},
		{"no token, loopback, sent to a host name", open, "127.0.0.1:5000", "gows.example", "", 403},
		{"token, sent to a host name", tok, "10.1.2.3:5000", "gows.example", "Bearer s3cret-token", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/system/state", nil)
			r.RemoteAddr = tc.remote
			r.Host = tc.host
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			if d := tc.g.Check(r); d.Status != tc.status || (d.Status != 0 && d.Msg == "") {
				t.Fatalf("got %+v, want status %d with a message", d, tc.status)
			}
		})
	}
}

func TestVerifier_HMAC(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	v, err := NewHMACVerifier(secret, Expect{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	mintT := func(o MintOptions) string {
		t.Helper()
		s, err := MintHMAC(secret, o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other, _ := MintHMAC([]byte("another-secret-of-16+"), MintOptions{UserID: "u1", TTL: time.Hour})
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1"}).SignedString(secret)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	strApp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "appId": "101", "exp": now.Add(time.Hour).Unix()}).SignedString(secret)
	critTok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u1", "exp": now.Add(time.Hour).Unix(), "b64": false})
	critTok.Header["crit"] = []string{"b64"}
	crit, _ := critTok.SignedString(secret)
	cases := []struct {
		name  string
		token string
		app   uint32
		user  string
		err   error
	}{
		{"valid", mintT(MintOptions{UserID: "u1", AppID: 101, TTL: time.Hour}), 101, "u1", nil},
		{"valid any app", mintT(MintOptions{UserID: "u1", TTL: time.Hour}), 7, "u1", nil},
		{"appId as string", strApp, 101, "u1", nil},
		{"empty", "", 101, "u1", ErrNoToken},
		{"expired", mintT(MintOptions{UserID: "u1", TTL: time.Minute, Now: now.Add(-time.Hour)}), 101, "u1", ErrTokenExpired},
		{"other user", mintT(MintOptions{UserID: "u2", TTL: time.Hour}), 101, "u1", ErrTokenMismatch},
		{"other app", mintT(MintOptions{UserID: "u1", AppID: 102, TTL: time.Hour}), 101, "u1", ErrTokenMismatch},
		{"other secret", other, 101, "u1", ErrBadToken},
		{"no exp", noExp, 101, "u1", ErrBadToken},
		{"alg none", none, 101, "u1", ErrBadToken},
		{"garbage", "a.b.c", 101, "u1", ErrBadToken},
		{"crit extension", crit, 101, "u1", ErrBadToken},
	}
	t.Run("expired within the leeway", func(t *testing.T) {
		exp := now.Add(-2 * time.Second).Truncate(time.Second)
		c, err := v.Verify(mintT(MintOptions{UserID: "u1", TTL: time.Hour, Now: exp.Add(-time.Hour)}), 101, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if want := exp.Add(Leeway); !c.Expires.Equal(want) {
			t.Fatalf("expires %v, want exp + leeway = %v: the session must last as long as the token is accepted", c.Expires, want)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(tc.token, tc.app, tc.user)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (c.UserID != tc.user || c.Expires.IsZero()) {
				t.Fatalf("claims %+v", c)
			}
		})
	}
	if _, err := NewHMACVerifier([]byte("short"), Expect{}); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

// keyFiles returns priv as PEM (PKCS #8) and the names of files holding its public half
// as a PEM public key and in a self-signed PEM certificate.
func keyFiles(t *testing.T, priv crypto.Signer) (privPEM []byte, pubFile, certFile string) {
	t.Helper()
	privDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pubFile, certFile = filepath.Join(dir, "pub.pem"), filepath.Join(dir, "cert.pem")
	for name, b := range map[string]*pem.Block{pubFile: {Type: "PUBLIC KEY", Bytes: pubDER}, certFile: {Type: "CERTIFICATE", Bytes: certDER}} {
		if err := os.WriteFile(name, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), pubFile, certFile
}

// must ends the test with err, else returns v: must(t)(f()) for an f that returns both.
func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestVerifier_PublicKeys(t *testing.T) {
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		priv crypto.Signer
	}{
		{"RS256", must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 2048))},
		{"ES256", must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))},
		{"ES384", must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P384(), rand.Reader))},
		{"ES512", must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P521(), rand.Reader))},
		{"EdDSA", edKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			privPEM, pubFile, certFile := keyFiles(t, tc.priv)
			fromCert, err := NewPublicKeyVerifier(certFile, Expect{})
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewPublicKeyVerifier(pubFile, Expect{})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := MintWithKey(privPEM, MintOptions{UserID: "u1", AppID: 101, TTL: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			parsed, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
			if err != nil {
				t.Fatal(err)
			}
			if alg := parsed.Method.Alg(); alg != tc.name {
				t.Fatalf("minted with %s, want %s", alg, tc.name)
			}
			if _, err := v.Verify(tok, 101, "u1"); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if _, err := fromCert.Verify(tok, 101, "u1"); err != nil {
				t.Fatalf("verify with the key of a certificate: %v", err)
			}
			privFile := filepath.Join(t.TempDir(), "priv.pem")
			if err := os.WriteFile(privFile, privPEM, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := NewPublicKeyVerifier(privFile, Expect{}); err == nil || !strings.Contains(err.Error(), "not a public key") {
				t.Fatalf("a private key file as the public key: %v", err)
			}
			hs, _ := MintHMAC([]byte("0123456789abcdef-secret"), MintOptions{UserID: "u1", TTL: time.Hour})
			if _, err := v.Verify(hs, 101, "u1"); !errors.Is(err, ErrBadToken) {
				t.Fatalf("an HMAC token passed the public key verifier: %v", err)
			}
		})
	}
}

// An ECDSA key verifies only its own curve's algorithm: a P-256 key signing a SHA-384
// digest (alg ES384, r and s padded to 48 bytes) makes a signature that ecdsa.Verify
// accepts, since it truncates the digest to the curve's size.
func TestVerifier_ECDSAKeyBoundToItsAlgorithm(t *testing.T) {
	key := must[*ecdsa.PrivateKey](t)(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	_, pubFile, _ := keyFiles(t, key)
	v, err := NewPublicKeyVerifier(pubFile, Expect{})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "u1", "exp": time.Now().Add(time.Hour).Unix()}
	signing := must[string](t)(jwt.NewWithClaims(jwt.SigningMethodES384, claims).SigningString())
	digest := sha512.Sum384([]byte(signing))
	r, sv, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	sv.FillBytes(sig[48:])
	if err := jwt.SigningMethodES384.Verify(signing, sig, &key.PublicKey); err != nil {
		t.Fatalf("the premise does not hold: jwt accepts no ES384 signature by a P-256 key: %v", err)
	}
	tok := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	if _, err := v.Verify(tok, 101, "u1"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("an ES384 token passed a P-256 key: %v", err)
	}
}

func TestVerifier_WeakRSAKeyRefused(t *testing.T) {
	key := must[*rsa.PrivateKey](t)(rsa.GenerateKey(rand.Reader, 1024))
	privPEM, pubFile, _ := keyFiles(t, key)
	_, err := NewPublicKeyVerifier(pubFile, Expect{})
	if err == nil || !strings.Contains(err.Error(), pubFile) || !strings.Contains(err.Error(), "1024 bits") {
		t.Fatalf("a 1024-bit RSA key: %v; want an error naming %s and the size", err, pubFile)
	}
	if _, err := MintWithKey(privPEM, MintOptions{UserID: "u1", TTL: time.Hour}); err == nil {
		t.Fatal("minted with a 1024-bit RSA key")
	}
}

func TestVerifier_IssuerAndAudience(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	v, err := NewHMACVerifier(secret, Expect{Issuer: "https://id.example", Audience: "gows"})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	signed := func(c jwt.MapClaims) string {
		c["sub"], c["exp"] = "u1", exp
		return must[string](t)(jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret))
	}
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		ok     bool
	}{
		{"right", jwt.MapClaims{"iss": "https://id.example", "aud": "gows"}, true},
		{"audience in a list", jwt.MapClaims{"iss": "https://id.example", "aud": []string{"billing", "gows"}}, true},
		{"wrong issuer", jwt.MapClaims{"iss": "https://other.example", "aud": "gows"}, false},
		{"no issuer", jwt.MapClaims{"aud": "gows"}, false},
		{"wrong audience", jwt.MapClaims{"iss": "https://id.example", "aud": "billing"}, false},
		{"no audience", jwt.MapClaims{"iss": "https://id.example"}, false},
		{"issuer in another case", jwt.MapClaims{"iss": "https://ID.example", "aud": "gows"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(signed(tc.claims), 101, "u1")
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrBadToken) {
				t.Fatalf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
	minted, err := MintHMAC(secret, MintOptions{UserID: "u1", TTL: time.Hour, Issuer: "https://id.example", Audience: "gows"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(minted, 101, "u1"); err != nil {
		t.Fatalf("a minted token with the issuer and audience: %v", err)
	}
}

// Claim names are matched exactly: encoding/json alone would read "SUB" as sub.
func TestVerifier_ClaimNamesExact(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	v, err := NewHMACVerifier(secret, Expect{})
	if err != nil {
		t.Fatal(err)
	}
	// Signed as raw JSON: a map would not keep two keys differing in case in this order.
	signed := func(body string) string {
		enc := base64.RawURLEncoding
		in := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(body))
		sig := must[[]byte](t)(jwt.SigningMethodHS256.Sign(in, secret))
		return in + "." + enc.EncodeToString(sig)
	}
	exp := time.Now().Add(time.Hour).Unix()
	for _, tc := range []struct {
		name string
		body string
		app  uint32 // the appId the verified claims must say
		err  error
	}{
		{"exact", `{"sub":"u1","appId":101,"exp":%d}`, 101, nil},
		{"appID alias", `{"sub":"u1","appID":"101","exp":%d}`, 101, nil},
		{"other claims", `{"sub":"u1","exp":%d,"role":"x","Role":"y"}`, 0, nil},
		{"sub in upper case", `{"SUB":"u1","exp":%d}`, 0, ErrBadToken},
		{"Sub after sub", `{"sub":"u2","exp":%d,"Sub":"u1"}`, 0, ErrBadToken},
		{"appid in lower case", `{"sub":"u1","appid":102,"exp":%d}`, 0, ErrBadToken},
		{"appId and appID", `{"sub":"u1","appId":101,"appID":102,"exp":%d}`, 0, ErrBadToken},
		{"EXP", `{"sub":"u1","EXP":%d}`, 0, ErrBadToken},
		{"bad appId", `{"sub":"u1","appId":"x","exp":%d}`, 0, ErrBadToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(signed(fmt.Sprintf(tc.body, exp)), 101, "u1")
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (c.UserID != "u1" || c.AppID != tc.app) {
				t.Fatalf("claims %+v, want app %d", c, tc.app)
			}
		})
	}
}
