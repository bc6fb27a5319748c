package tui

import (
	"strings"
	"testing"
	"time"
)

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // "" for valid
	}{
		{"valid", func(*Config) {}, ""},
		{"wss with room and token", func(c *Config) { c.URL, c.Room, c.Token = "wss://h/acc", "lobby", "t" }, ""},
		{"http url", func(c *Config) { c.URL = "http://h/acc" }, "url:"},
		{"no host", func(c *Config) { c.URL = "ws:///acc" }, "url:"},
		{"no user", func(c *Config) { c.UserID = "" }, "user:"},
		{"control character in user", func(c *Config) { c.UserID = "a\nb" }, "user:"},
		{"app 0", func(c *Config) { c.AppID = 0 }, "app id:"},
		{"room too long", func(c *Config) { c.Room = strings.Repeat("r", 65) }, "room:"},
		{"no heartbeat", func(c *Config) { c.HeartbeatInterval = 0 }, "heartbeat interval:"},
		{"negative dial timeout", func(c *Config) { c.DialTimeout = -time.Second }, "dial timeout:"},
		{"max below min backoff", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "max backoff:"},
		{"no flush timeout", func(c *Config) { c.FlushTimeout = 0 }, "flush timeout:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}
