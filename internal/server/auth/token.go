package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Errors of token verification. Each maps to protocol code 1003.
var (
	ErrNoToken       = errors.New("login token required")
	ErrBadToken      = errors.New("invalid login token")
	ErrTokenExpired  = errors.New("login token expired")
	ErrTokenMismatch = errors.New("login token is for another user or app")
)

// Claims are the verified facts of a login token.
type Claims struct {
	UserID string // the token's sub
	AppID  uint32 // the appId claim; 0 when the token does not restrict the app
	// Expires is when the token stops being accepted: its exp plus Leeway, so that a
	// session lasts as long as a login with the same token would succeed. Zero when the
	// token has no exp.
	Expires time.Time
}

// Leeway is the clock skew allowed between the token's issuer and this node when exp and
// nbf are checked.
const Leeway = 5 * time.Second

// tokenClaims is the JWT body gows reads and writes: the registered claims plus appId.
type tokenClaims struct {
	jwt.RegisteredClaims
	AppID flexUint `json:"appId,omitempty"`
}

// UnmarshalJSON reads the claims by their exact names (and appId also as appID): a
// token that spells one in another case ("SUB", "AppId") is refused rather than read as
// it, as encoding/json alone would, so that a claim an issuer copies from user data under
// such a name cannot stand in for the real one, and a restriction spelt so is not
// silently dropped either. Of a name given twice, the last counts (RFC 7519, section 4).
func (tc *tokenClaims) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if _, ok := m["appID"]; ok {
		if _, dup := m["appId"]; dup {
			return errors.New("claims appId and appID: give one")
		}
		m["appId"] = m["appID"]
		delete(m, "appID")
	}
	claims := map[string]any{
		"iss": &tc.Issuer, "sub": &tc.Subject, "aud": &tc.Audience, "exp": &tc.ExpiresAt,
		"nbf": &tc.NotBefore, "iat": &tc.IssuedAt, "jti": &tc.ID, "appId": &tc.AppID,
	}
	for name, raw := range m {
		dst, ok := claims[name]
		if !ok {
			for known := range claims {
				if strings.EqualFold(name, known) {
					return fmt.Errorf("claim %q: claim names are case-sensitive, want %q", name, known)
				}
			}
			continue // a claim gows does not read
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fmt.Errorf("%s claim: %w", name, err)
		}
	}
	return nil
}

// flexUint accepts a JSON number or a numeric string.
type flexUint uint32

func (f *flexUint) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return err // tokenClaims.UnmarshalJSON names the claim
	}
	*f = flexUint(v)
	return nil
}

// Expect lists what every login token must say beyond sub, appId and exp, for a
// backend whose signing secret or key also signs tokens for other services.
type Expect struct {
	Issuer   string // the iss claim must equal it; "": iss is not checked
	Audience string // the aud claim must contain it; "": aud is not checked
}

// Verifier checks login tokens: JWTs signed with an HMAC secret (HS256/384/512) or with
// the private key matching a PEM public key (RS256/384/512 for RSA, the one ES algorithm
// of an ECDSA key's curve, EdDSA for Ed25519). It is immutable and safe for concurrent
// use.
type Verifier struct {
	key    any
	leeway time.Duration
	opts   []jwt.ParserOption
}

func newVerifier(key any, methods []string, e Expect) *Verifier {
	opts := []jwt.ParserOption{jwt.WithValidMethods(methods), jwt.WithLeeway(Leeway), jwt.WithExpirationRequired()}
	if e.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(e.Issuer))
	}
	if e.Audience != "" {
		opts = append(opts, jwt.WithAudience(e.Audience))
	}
	return &Verifier{key: key, leeway: Leeway, opts: opts}
}

// NewHMACVerifier verifies HS256/HS384/HS512 tokens signed with secret.
func NewHMACVerifier(secret []byte, e Expect) (*Verifier, error) {
	if len(secret) < 16 {
		return nil, errors.New("auth secret: must be at least 16 bytes")
	}
	return newVerifier(secret, []string{"HS256", "HS384", "HS512"}, e), nil
}

// NewPublicKeyVerifier verifies tokens with the PEM public key (or certificate) in file.
// An RSA key must have at least 2048 bits.
func NewPublicKeyVerifier(file string, e Expect) (*Verifier, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("auth public key: %w", err)
	}
	key, err := parsePublicKey(b)
	var methods []string
	if err == nil {
		methods, err = keyMethods(key)
	}
	if err != nil {
		return nil, fmt.Errorf("auth public key %s: %w", file, err)
	}
	return newVerifier(key, methods, e), nil
}

// parsePublicKey reads the first PEM block of b: a public key (PKIX, or PKCS #1 for
// RSA) or a certificate, whose key it returns.
func parsePublicKey(b []byte) (any, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		return k, nil
	}
	if c, err := x509.ParseCertificate(block.Bytes); err == nil {
		return c.PublicKey, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a public key nor a certificate", block.Type)
}

// keyMethods returns the JWT algorithms a public key verifies, the one to sign with
// first. An ECDSA key verifies only its curve's algorithm (RFC 7518, section 3.4), so
// that a token cannot pair it with another hash; an RSA key shorter than 2048 bits is
// refused (RFC 7518, section 3.3).
func keyMethods(pub any) ([]string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits, want at least 2048", n)
		}
		return []string{"RS256", "RS384", "RS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("ECDSA key on curve %s, want P-256, P-384 or P-521", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("a %T, want an RSA, ECDSA or Ed25519 key", pub)
}

// Verify checks token's signature and expiry (and issuer and audience, when the
// Verifier expects them) and that it was issued for app/user: sub must equal user, and
// an appId claim, when present, must equal app.
func (v *Verifier) Verify(token string, app uint32, user string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrNoToken
	}
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(token, &tc, v.keyFor, v.opts...)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return Claims{}, ErrTokenExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	c := Claims{UserID: tc.Subject, AppID: uint32(tc.AppID)}
	if tc.ExpiresAt != nil {
		c.Expires = tc.ExpiresAt.Add(v.leeway)
	}
	if c.UserID != user || (c.AppID != 0 && c.AppID != app) {
		return Claims{}, ErrTokenMismatch
	}
	return c, nil
}

// keyFor hands the parser the verification key, unless the token's header lists
// critical extensions ("crit", RFC 7515 section 4.1.11): the verifier implements none,
// and a recipient that does not understand one must refuse the token.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if crit, ok := t.Header["crit"]; ok {
		return nil, fmt.Errorf("the header's crit lists extensions this server does not implement: %v", crit)
	}
	return v.key, nil
}

// MintOptions describe a token for Mint.
type MintOptions struct {
	UserID   string
	AppID    uint32        // 0: the token is valid for any app
	TTL      time.Duration // lifetime; must be positive
	Issuer   string        // optional iss claim
	Audience string        // optional aud claim
	Now      time.Time     // issue time; zero means time.Now()
}

// MintHMAC signs an HS256 token with secret, for tests and for backends that issue tokens
// (`gows token`).
func MintHMAC(secret []byte, o MintOptions) (string, error) {
	return mint(jwt.SigningMethodHS256, secret, o)
}

// MintWithKey signs a token with a PEM private key: RS256 with an RSA key (of at least
// 2048 bits), ES256, ES384 or ES512 with an ECDSA key on P-256, P-384 or P-521, EdDSA
// with an Ed25519 key.
func MintWithKey(pemKey []byte, o MintOptions) (string, error) {
	var key crypto.Signer
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey); err == nil {
		key = k
	} else if k, err := jwt.ParseECPrivateKeyFromPEM(pemKey); err == nil {
		key = k
	} else if k, err := jwt.ParseEdPrivateKeyFromPEM(pemKey); err == nil {
		key, _ = k.(crypto.Signer) // ed25519.PrivateKey, the only type it returns
	}
	if key == nil {
		return "", errors.New("private key: not an RSA, ECDSA or Ed25519 private key in PEM")
	}
	methods, err := keyMethods(key.Public())
	if err != nil {
		return "", fmt.Errorf("private key: %w", err)
	}
	return mint(jwt.GetSigningMethod(methods[0]), key, o)
}

func mint(m jwt.SigningMethod, key any, o MintOptions) (string, error) {
	if o.UserID == "" {
		return "", errors.New("user id is required")
	}
	if o.TTL <= 0 {
		return "", errors.New("ttl must be positive")
	}
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	tc := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   o.UserID,
			Issuer:    o.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(o.TTL)),
		},
		AppID: flexUint(o.AppID),
	}
	if o.Audience != "" {
		tc.Audience = jwt.ClaimStrings{o.Audience}
	}
	s, err := jwt.NewWithClaims(m, tc).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
