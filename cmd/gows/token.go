package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/server/auth"
)

// tokenSecretEnv is the variable serve reads its auth_secret from; token uses the same
// one, so a shell set up for the server can mint tokens for it.
const tokenSecretEnv = envPrefix + "AUTH_SECRET"

// tokenOptions is the parsed command line of `gows token`.
type tokenOptions struct {
	user       string
	appID      uint32
	ttl        time.Duration
	secret     string // HMAC secret (HS256)
	privateKey string // PEM file (RS256, ES256/384/512, EdDSA)
	issuer     string
	audience   string
	output     string // text or json
}

func newTokenCmd(s *streams, runF func(context.Context, *tokenOptions) error) *cobra.Command {
	opts := &tokenOptions{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a login token (JWT) for a user, for testing and for backends",
		Long: `Mint a login token: a JWT whose sub is the user id, with an appId claim and an expiry.
A server started with the same --auth-secret (HS256), or with the public half of
--private-key as its --auth-public-key (RS256 for RSA; ES256, ES384 or ES512 for ECDSA
on P-256, P-384 or P-521; EdDSA for Ed25519), accepts it as login's serviceToken.
A server with --auth-issuer or --auth-audience also needs --issuer or --audience to match.

The secret comes from --secret or $` + tokenSecretEnv + ` (the variable serve reads too).`,
		Example: `  export GOWS_AUTH_SECRET=$(head -c 32 /dev/urandom | base64)
  gows serve &                                   # requires tokens now
  gows token --user alice --app-id 101 --ttl 1h
  GOWS_LOGIN_TOKEN="$(gows token --user alice --app-id 101)" gows chat --user alice
  gows token --user bob --private-key signer.pem -o json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.secret = cmp.Or(opts.secret, os.Getenv(tokenSecretEnv))
			switch {
			case opts.user == "":
				return usageErrorf("--user is required")
			case opts.ttl <= 0:
				return usageErrorf("--ttl must be positive, got %s", opts.ttl)
			case opts.secret == "" && opts.privateKey == "":
				return usageErrorf("give --secret (or $%s) or --private-key", tokenSecretEnv)
			case opts.secret != "" && opts.privateKey != "":
				return usageErrorf("give --secret or --private-key, not both")
			case opts.secret != "" && len(opts.secret) < 16:
				return usageErrorf("--secret must be at least 16 bytes, as the server's auth_secret")
			case opts.output != "text" && opts.output != "json":
				return usageErrorf("--output: want text or json, got %q", opts.output)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runToken(s, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.user, "user", "", "user id the token is for (the JWT sub)")
	f.Uint32Var(&opts.appID, "app-id", 0, "app id the token is limited to; 0 means any app")
	f.DurationVar(&opts.ttl, "ttl", time.Hour, "lifetime of the token")
	f.StringVar(&opts.secret, "secret", "", "HMAC secret, the server's auth_secret [$"+tokenSecretEnv+"]")
	f.StringVar(&opts.privateKey, "private-key", "", "PEM file with an RSA, ECDSA or Ed25519 private key (RS256, ES256/ES384/ES512 by curve, EdDSA)")
	f.StringVar(&opts.issuer, "issuer", "", "iss claim, the server's auth_issuer; empty: none")
	f.StringVar(&opts.audience, "audience", "", "aud claim, the server's auth_audience; empty: none")
	f.StringVarP(&opts.output, "output", "o", "text", "output format: text (the token alone) or json")
	completeOutput(cmd, "text", "json")
	return cmd
}

func runToken(s *streams, opts *tokenOptions) error {
	now := time.Now()
	mo := auth.MintOptions{UserID: opts.user, AppID: opts.appID, TTL: opts.ttl, Issuer: opts.issuer, Audience: opts.audience, Now: now}
	var tok string
	var err error
	if opts.privateKey != "" {
		pem, rerr := os.ReadFile(opts.privateKey)
		if rerr != nil {
			return fmt.Errorf("read private key: %w", rerr)
		}
		tok, err = auth.MintWithKey(pem, mo)
	} else {
		tok, err = auth.MintHMAC([]byte(opts.secret), mo)
	}
	if err != nil {
		return fmt.Errorf("mint token: %w", err)
	}
	if opts.output == "json" {
		return json.NewEncoder(s.out).Encode(struct {
			Token     string `json:"token"`
			UserID    string `json:"userId"`
			AppID     uint32 `json:"appId,omitempty"`
			ExpiresAt string `json:"expiresAt"`
		}{tok, opts.user, opts.appID, now.Add(opts.ttl).UTC().Format(time.RFC3339)})
	}
	_, err = fmt.Fprintln(s.out, tok)
	return err
}
