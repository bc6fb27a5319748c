package auth

import (
	"encoding/json"
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

// Verifier checks login tokens: JWTs signed with an HMAC secret (HS256/384/512) or with
// the private key matching a PEM public key (RS256/384/512, ES256/384/512). It is
// immutable and safe for concurrent use.
type Verifier struct {
	key     any
	methods []string
	leeway  time.Duration
}

// NewHMACVerifier verifies HS256/HS384/HS512 tokens signed with secret.
func NewHMACVerifier(secret []byte) (*Verifier, error) {
	if len(secret) < 16 {
		return nil, errors.New("auth secret: must be at least 16 bytes")
	}
	return &Verifier{key: secret, methods: []string{"HS256", "HS384", "HS512"}, leeway: Leeway}, nil
}

// NewPublicKeyVerifier verifies RS*/ES* tokens with the PEM public key in file.
func NewPublicKeyVerifier(file string) (*Verifier, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("auth public key: %w", err)
	}
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pem); err == nil {
		return &Verifier{key: k, methods: []string{"RS256", "RS384", "RS512"}, leeway: Leeway}, nil
	}
	if k, err := jwt.ParseECPublicKeyFromPEM(pem); err == nil {
		return &Verifier{key: k, methods: []string{"ES256", "ES384", "ES512"}, leeway: Leeway}, nil
	}
	return nil, fmt.Errorf("auth public key %s: not an RSA or ECDSA public key in PEM", file)
}

// Verify checks token's signature and expiry and that it was issued for app/user: sub must
// equal user, and an appId claim, when present, must equal app.
func (v *Verifier) Verify(token string, app uint32, user string) (Claims, error) {
	if token == "" {
		return Claims{}, ErrNoToken
	}
	var tc tokenClaims
	_, err := jwt.ParseWithClaims(token, &tc, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods(v.methods), jwt.WithLeeway(v.leeway), jwt.WithExpirationRequired())
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

// MintOptions describe a token for Mint.
type MintOptions struct {
	UserID string
	AppID  uint32        // 0: the token is valid for any app
	TTL    time.Duration // lifetime; must be positive
	Issuer string        // optional iss claim
	Now    time.Time     // issue time; zero means time.Now()
}

// MintHMAC signs an HS256 token with secret, for tests and for backends that issue tokens
// (`gows token`).
func MintHMAC(secret []byte, o MintOptions) (string, error) {
	return mint(jwt.SigningMethodHS256, secret, o)
}

// MintWithKey signs a token with a PEM private key (RSA: RS256, ECDSA: ES256).
func MintWithKey(pemKey []byte, o MintOptions) (string, error) {
	if k, err := jwt.ParseRSAPrivateKeyFromPEM(pemKey); err == nil {
		return mint(jwt.SigningMethodRS256, k, o)
	}
	if k, err := jwt.ParseECPrivateKeyFromPEM(pemKey); err == nil {
		return mint(jwt.SigningMethodES256, k, o)
	}
	return "", errors.New("private key: not an RSA or ECDSA private key in PEM")
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
	s, err := jwt.NewWithClaims(m, tc).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}
