package protocol

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCode_Text(t *testing.T) {
	tests := []struct {
		name string
		code Code
		want string
	}{
		{name: "ok", code: OK, want: "Success"},
		{name: "not logged in", code: NotLoggedIn, want: "not logged in"},
		{name: "parameter illegal", code: ParameterIllegal, want: "parameter illegal"},
		{name: "unauthorized user id", code: UnauthorizedUserID, want: "unauthorized user id"},
		{name: "unauthorized", code: Unauthorized, want: "unauthorized"},
		{name: "server error", code: ServerError, want: "server error"},
		{name: "no data", code: NotData, want: "no data"},
		{name: "add failed", code: ModelAddError, want: "add failed"},
		{name: "delete failed", code: ModelDeleteError, want: "delete failed"},
		{name: "store failed", code: ModelStoreError, want: "store failed"},
		{name: "operation failure", code: OperationFailure, want: "operation failure"},
		{name: "route does not exist", code: RoutingNotExist, want: "route does not exist"},
		{name: "unknown code", code: 4242, want: "code 4242"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.code.Text(); got != tt.want {
				t.Fatalf("Code(%d).Text() = %q, want %q", tt.code, got, tt.want)
			}
		})
	}
}

func TestCloseCode_TerminalAndText(t *testing.T) {
	tests := []struct {
		name     string
		code     CloseCode
		terminal bool
	}{
		{name: "normal", code: CloseNormal},
		{name: "going away", code: CloseGoingAway},
		{name: "protocol error", code: CloseProtocolError, terminal: true},
		{name: "unsupported data", code: CloseUnsupportedData, terminal: true},
		{name: "invalid payload", code: CloseInvalidPayload, terminal: true},
		{name: "policy violation", code: ClosePolicyViolation},
		{name: "message too big", code: CloseMessageTooBig, terminal: true},
		{name: "internal error", code: CloseInternalError},
		{name: "try again later", code: CloseTryAgainLater},
		{name: "kickout", code: CloseKickout, terminal: true},
		{name: "login timeout", code: CloseLoginTimeout},
		{name: "heartbeat timeout", code: CloseHeartbeatTimeout},
		{name: "auth failed", code: CloseAuthFailed, terminal: true},
		{name: "token expired", code: CloseTokenExpired},
		{name: "rate limited", code: CloseRateLimited},
		{name: "admin kick", code: CloseAdminKick, terminal: true},
	}
	seen := map[string]CloseCode{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.code.Terminal(); got != tt.terminal {
				t.Errorf("CloseCode(%d).Terminal() = %v, want %v", tt.code, got, tt.terminal)
			}
			text := tt.code.Text()
			// The reason goes into a close frame: at most 123 bytes of UTF-8.
			if text == "" || text == "closed" || len(text) > 123 || !utf8.ValidString(text) {
				t.Errorf("CloseCode(%d).Text() = %q: want a specific reason that fits a close frame", tt.code, text)
			}
			if other, dup := seen[text]; dup {
				t.Errorf("codes %d and %d share the reason %q", other, tt.code, text)
			}
			seen[text] = tt.code
		})
	}
}

func TestCloseCode_AppCodesAreInTheApplicationRange(t *testing.T) {
	for _, c := range []CloseCode{CloseKickout, CloseLoginTimeout, CloseHeartbeatTimeout, CloseAuthFailed,
		CloseTokenExpired, CloseRateLimited, CloseAdminKick} {
		if c < 4000 || c > 4999 {
			t.Errorf("application close code %d is outside 4000-4999", c)
		}
	}
	if CloseSlowConsumer != CloseTryAgainLater {
		t.Errorf("slow consumers are documented to be closed with 1013, got %d", CloseSlowConsumer)
	}
	if got := CloseCode(4999).Text(); !strings.Contains(got, "closed") {
		t.Errorf("unknown close code text %q", got)
	}
}
