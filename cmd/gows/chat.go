package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/gows-dev/gows/internal/protocol"
	"github.com/gows-dev/gows/internal/tui"
)

// chatTokenEnv supplies --token when the flag is not given, so that a token need not show
// up in the process list or the shell's history.
const chatTokenEnv = envPrefix + "LOGIN_TOKEN"

// chatCACertEnv supplies --cacert when the flag is not given; gows admin reads it too.
const chatCACertEnv = envPrefix + "CACERT"

// exitNotSent is chat's exit code when line mode could not deliver its input for want of
// a connection (a *tui.UnsentError): trying again later may work. Like admin's
// exitUnreachable, it tells "the server is not there" from a refusal (exitFailure).
const exitNotSent = 3

// chatOptions is the parsed command line of `gows chat`.
type chatOptions struct {
	config tui.Config
}

func newChatCmd(s *streams, runF func(context.Context, *chatOptions) error) *cobra.Command {
	opts := &chatOptions{config: tui.Default()}
	cfg := &opts.config
	var appID uint
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Chat in the terminal through a gows server",
		Long: `Chat through a gows server's WebSocket endpoint.

On a terminal it is a full-screen app: messages, who is online, a status line and an
input line. Enter sends to the current room (or to everyone in the app); /join ROOM,
/leave, /msg USER TEXT, /users, /help and /quit are commands; PgUp/PgDn scroll; Ctrl-C
quits. It sends heartbeats by itself and reconnects with backoff when the connection
drops, joining its room again.

With --no-tui, or when standard input is not a terminal, it is a line mode for scripts:
it reads lines (the same commands) from standard input and prints one line per message
or notice, e.g. "[15:04:05] [lobby] <bob> hi". At the end of the input (or /quit) it
exits once what it sent has been answered; if it is not connected then, it gives up at
once. docs/chat.md describes the format.

Exit status: 0 when the session ended normally; 1 when the server ended it for good
(kicked out, login refused, handshake refused with a 4xx status before the first login),
in line mode when a line was refused (a server error code, e.g. /msg to a user who is
not online; an unknown or malformed command; /leave in no room; a line or message too
long), or on another error; 2 for a wrong command line; 3 in line mode when it never
connected before the input ended, or some lines could not be sent for want of a
connection (and none was refused).`,
		Example: `  gows chat --user alice
  gows chat --url ws://chat.example.com:8089/acc --user alice --app-id 101 --room lobby
  printf 'hello\n/msg bob see you\n' | gows chat --user script --no-tui
  GOWS_LOGIN_TOKEN=... gows chat --user alice`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.UserID == "" {
				return usageErrorf("--user is required")
			}
			if appID > 1<<32-1 {
				return usageErrorf("--app-id: want at most %d, got %d", uint32(1<<32-1), appID)
			}
			cfg.AppID = uint32(appID)
			cfg.Token = cmp.Or(cfg.Token, os.Getenv(chatTokenEnv))
			cfg.CACert = cmp.Or(cfg.CACert, os.Getenv(chatCACertEnv))
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runChat(cmd.Context(), s, opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&cfg.URL, "url", "ws://127.0.0.1:8089/acc", "the server's WebSocket endpoint")
	f.StringVar(&cfg.UserID, "user", "", "user id to log in as (required)")
	f.UintVar(&appID, "app-id", 101, "app id to log in to")
	f.StringVar(&cfg.Room, "room", "", "room to join (again after every reconnect); none sends to the whole app")
	f.StringVar(&cfg.Token, "token", "", "login token, for servers that require one [$"+chatTokenEnv+"]")
	f.StringVar(&cfg.CACert, "cacert", "", "PEM file of CA certificates to trust for a wss:// --url, besides the system's (a private CA, or the node's self-signed certificate) [$"+chatCACertEnv+"]")
	f.BoolVar(&cfg.NoTUI, "no-tui", false, "line mode even on a terminal")
	f.DurationVar(&cfg.HeartbeatInterval, "heartbeat", cfg.HeartbeatInterval, "time between heartbeats; keep it below the server's heartbeat timeout. A server silent for two heartbeats and 3s is taken for gone")
	f.DurationVar(&cfg.MaxBackoff, "max-backoff", cfg.MaxBackoff, "longest wait between reconnect attempts")
	return cmd
}

// runChat runs a chat session until the user quits, the input ends, or SIGINT/SIGTERM.
func runChat(ctx context.Context, s *streams, opts *chatOptions) error {
	cfg := opts.config
	if err := cfg.Validate(); err != nil {
		return withExitCode(exitUsage, fmt.Errorf("invalid options: %w", err))
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := tui.Run(ctx, cfg, s.in, s.out)
	if err == nil {
		return nil
	}
	if le, ok := errors.AsType[*tui.LoginError](err); ok && le.Code == protocol.Unauthorized && cfg.Token == "" {
		// The server wants a token and none was given: say how to give one.
		err = fmt.Errorf("%w; no token was given: set $%s (or --token) to one from `gows token`", err, chatTokenEnv)
	}
	err = fmt.Errorf("chat: %w", err)
	if _, ok := errors.AsType[*tui.UnsentError](err); ok {
		return withExitCode(exitNotSent, err)
	}
	return err
}
