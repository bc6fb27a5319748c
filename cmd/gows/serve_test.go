package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/gows-dev/gows/internal/server"
)

// parseServe runs `gows serve args...` through the real command tree with runServe
// replaced by a hook, and returns the options the hook received (nil if it was not
// called).
func parseServe(t *testing.T, args ...string) (*serveOptions, cliResult) {
	t.Helper()
	var got *serveOptions
	hook := func(s *streams) *cobra.Command {
		return newServeCmd(s, func(_ context.Context, o *serveOptions) error {
			got = o
			return nil
		})
	}
	res := runCLI(t, append([]string{"serve"}, args...), hook)
	return got, res
}

func TestServe_PrecedenceIsFlagEnvFileDefault(t *testing.T) {
	const file = `
http_addr: "127.0.0.1:1001"
ws_addr: "127.0.0.1:1002"
login_timeout: "5s"
allowed_origins: [a.example.com, b.example.com]
allowed_app_ids: [101]
max_conns: 10
reuseport: true
`
	env := map[string]string{
		"GOWS_HTTP_ADDR":       "127.0.0.1:2001",
		"GOWS_LOGIN_TIMEOUT":   "7s",
		"GOWS_ALLOWED_ORIGINS": "c.example.com, d.example.com",
		"GOWS_ALLOWED_APP_IDS": "201,202",
		"GOWS_MAX_CONNS":       "20",
	}
	flags := []string{"--http-addr", "127.0.0.1:3001", "--allowed-origins", "e.example.com", "--max-conns", "30"}

	fromFile := server.Default()
	fromFile.HTTPAddr = "127.0.0.1:1001"
	fromFile.WSAddr = "127.0.0.1:1002"
	fromFile.LoginTimeout = 5 * time.Second
	fromFile.AllowedOrigins = []string{"a.example.com", "b.example.com"}
	fromFile.AllowedAppIDs = []uint32{101}
	fromFile.MaxConns = 10
	fromFile.ReusePort = true

	fromEnv := fromFile // ws_addr and reuseport still from the file
	fromEnv.HTTPAddr = "127.0.0.1:2001"
	fromEnv.LoginTimeout = 7 * time.Second
	fromEnv.AllowedOrigins = []string{"c.example.com", "d.example.com"}
	fromEnv.AllowedAppIDs = []uint32{201, 202}
	fromEnv.MaxConns = 20

	fromFlags := fromEnv // login_timeout and allowed_app_ids still from the environment
	fromFlags.HTTPAddr = "127.0.0.1:3001"
	fromFlags.AllowedOrigins = []string{"e.example.com"}
	fromFlags.MaxConns = 30

	tests := []struct {
		name  string
		file  bool              // pass the file with --config
		env   map[string]string // set for the test
		flags []string
		want  server.Config
	}{
		{name: "defaults", want: server.Default()},
		{name: "file over defaults", file: true, want: fromFile},
		{name: "env over file", file: true, env: env, want: fromEnv},
		{name: "flags over env", file: true, env: env, flags: flags, want: fromFlags},
		{name: "flags over defaults", flags: flags, want: func() server.Config {
			c := server.Default()
			c.HTTPAddr, c.AllowedOrigins, c.MaxConns = "127.0.0.1:3001", []string{"e.example.com"}, 30
			return c
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := slices.Clone(tt.flags)
			if tt.file {
				args = append(args, "--config", writeFile(t, "gows.yaml", file))
			}
			got, res := parseServe(t, args...)
			if res.code != exitOK || got == nil {
				t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
			}
			if !reflect.DeepEqual(got.config, tt.want) {
				t.Errorf("config =\n%+v\nwant\n%+v", got.config, tt.want)
			}
		})
	}
}

func TestServe_ConfigFileFromEnv(t *testing.T) {
	isolateEnv(t)
	t.Setenv(configFileEnv, writeFile(t, "gows.yaml", "node_id: from-env-file\n"))
	got, res := parseServe(t)
	if res.code != exitOK || got == nil {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if got.config.NodeID != "from-env-file" {
		t.Errorf("node_id = %q, want it from $%s", got.config.NodeID, configFileEnv)
	}
}

func TestServe_UnknownKeyInFileFails(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"unknown key", "http_addr: \":1\"\nbogus: 1\n", `unknown key "bogus"`},
		{"flag spelling", "http-addr: \":1\"\n", `unknown key "http-addr"; did you mean "http_addr"?`},
		{"nested unknown key", "redis:\n  addr: x\n", `unknown key "redis.addr"`},
		{"map under a known key", "allowed_origins:\n  a: b\n", "allowed_origins: want a single value or a list, got a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			got, res := parseServe(t, "--config", writeFile(t, "gows.yaml", tt.file))
			if got != nil || res.code != exitFailure {
				t.Fatalf("exit %d, run called: %v; want a failure before running", res.code, got != nil)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tt.want)
			}
		})
	}
}

// TestServe_BadValuesNameTheKey runs the real serve command: every case fails before the
// server binds anything.
func TestServe_BadValuesNameTheKey(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		env   map[string]string
		flags []string
		want  string
	}{
		{name: "duration without unit in file", file: "login_timeout: 60\n",
			want: `login_timeout (from config file): want a duration with a unit such as "10s" or "6m", got 60`},
		{name: "bad duration in env", env: map[string]string{"GOWS_HEARTBEAT_TIMEOUT": "soon"},
			want: `heartbeat_timeout (from $GOWS_HEARTBEAT_TIMEOUT): want a duration such as "10s" or "6m", got "soon"`},
		{name: "negative timeout", flags: []string{"--drain-timeout", "-1s"},
			want: "drain_timeout: must be positive, got -1s"},
		{name: "negative drain delay", flags: []string{"--drain-delay", "-1s"},
			want: "drain_delay: must not be negative, got -1s"},
		{name: "bad integer in env", env: map[string]string{"GOWS_MAX_CONNS": "many"},
			want: `max_conns (from $GOWS_MAX_CONNS): want an integer, got "many"`},
		{name: "negative integer in file", file: "max_conns: -5\n",
			want: "max_conns: must not be negative, got -5"},
		{name: "bad list item in file", file: "allowed_app_ids: [101, x]\n",
			want: `allowed_app_ids (from config file): want a non-negative integer, got "x"`},
		{name: "bad bool in env", env: map[string]string{"GOWS_REUSEPORT": "maybe"},
			want: `reuseport (from $GOWS_REUSEPORT): want true or false, got "maybe"`},
		{name: "unparsable address in file", file: "ws_addr: localhost\n",
			want: `ws_addr: want host:port, got "localhost"`},
		{name: "unparsable address in env", env: map[string]string{"GOWS_HTTP_ADDR": "127.0.0.1:http:x"},
			want: "http_addr: "},
		{name: "negative connections per user in env", env: map[string]string{"GOWS_MAX_CONNS_PER_USER": "-1"},
			want: "max_conns_per_user: must not be negative, got -1"},
		{name: "negative connections per user flag", flags: []string{"--max-conns-per-user", "-2"},
			want: "max_conns_per_user: must not be negative, got -2"},
		{name: "bad enum flag", flags: []string{"--duplicate-login", "both"},
			want: `duplicate_login: want kick or reject, got "both"`},
		{name: "admin token with a trailing newline in env", env: map[string]string{"GOWS_ADMIN_TOKEN": "s3cret\n"},
			want: "admin_token: must not start or end with white space"},
		{name: "cluster token with a control character", file: "cluster:\n  token: \"a\\tb\"\n",
			want: "cluster.token: must not contain control characters"},
		{name: "endpoint path with a query", flags: []string{"--echo-path", "/echo?x"},
			want: `echo_path: must be a path without a query, a fragment or white space, got "/echo?x"`},
		{name: "endpoint path without a slash", env: map[string]string{"GOWS_WS_PATH": "acc"},
			want: `ws_path: must start with /, got "acc"`},
		{name: "bad log level", flags: []string{"--log-level", "loud"},
			want: `log_level: want debug, info, warn or error, got "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"serve"}, tt.flags...)
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "gows.yaml", tt.file))
			}
			res := runCLI(t, args)
			if res.code != exitFailure {
				t.Errorf("exit code = %d, want %d", res.code, exitFailure)
			}
			if !strings.Contains(res.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", res.stderr, tt.want)
			}
		})
	}
}

func TestServe_SettingsCoverEveryConfigField(t *testing.T) {
	table := serveSettings()
	// leafKeys lists the keys of typ's fields, dotted below nested structs.
	var leafKeys func(typ reflect.Type, prefix string) []string
	leafKeys = func(typ reflect.Type, prefix string) []string {
		var keys []string
		for f := range typ.Fields() {
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if tag == "" {
				t.Errorf("server.Config field %s%s has no mapstructure tag", prefix, f.Name)
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				keys = append(keys, leafKeys(f.Type, prefix+tag+".")...)
				continue
			}
			keys = append(keys, prefix+tag)
		}
		return keys
	}
	tags := leafKeys(reflect.TypeFor[server.Config](), "")
	kebab := regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	keys, flags := map[string]bool{}, map[string]bool{}
	for _, s := range table {
		if !slices.Contains(tags, s.key) {
			t.Errorf("setting %q matches no server.Config field", s.key)
		}
		if keys[s.key] || flags[s.flag] {
			t.Errorf("setting %q / --%s is listed twice", s.key, s.flag)
		}
		keys[s.key], flags[s.flag] = true, true
		if !kebab.MatchString(s.flag) {
			t.Errorf("flag --%s is not kebab-case", s.flag)
		}
		if s.usage == "" {
			t.Errorf("setting %q has no help", s.key)
		}
	}
	for _, tag := range tags {
		if !keys[tag] {
			t.Errorf("server.Config field %q has no row in serveSettings", tag)
		}
	}

	cmd := newServeCmd(&streams{}, nil)
	for _, s := range table {
		f := cmd.Flags().Lookup(s.flag)
		if f == nil {
			t.Errorf("--%s is not registered", s.flag)
			continue
		}
		if !strings.Contains(f.Usage, "$"+envName(s.key)) {
			t.Errorf("--%s help %q does not name $%s", s.flag, f.Usage, envName(s.key))
		}
	}
}

func TestServe_ExampleConfigIsTheDefault(t *testing.T) {
	const path = "../../configs/gows.example.yaml"
	isolateEnv(t)
	got, res := parseServe(t, "--config", path)
	if res.code != exitOK || got == nil {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if !reflect.DeepEqual(got.config, server.Default()) {
		t.Errorf("%s =\n%+v\nserver.Default() =\n%+v", path, got.config, server.Default())
	}
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range serveSettings() {
		if !hasKey(doc, s.key) {
			t.Errorf("%s does not list %s", path, s.key)
		}
	}
}

// hasKey says whether the YAML document has the dotted key.
func hasKey(doc map[string]any, key string) bool {
	head, rest, nested := strings.Cut(key, ".")
	v, ok := doc[head]
	if !ok || !nested {
		return ok
	}
	sub, ok := v.(map[string]any)
	return ok && hasKey(sub, rest)
}

// --check-config checks what a start would (here the TLS files too), binds nothing, and
// prints the settings in effect as a config file that loads back to the same settings,
// with secrets hidden.
func TestServe_CheckConfigPrintsTheSettingsInEffect(t *testing.T) {
	isolateEnv(t)
	t.Setenv("GOWS_NODE_ID", "from-env")
	file := writeFile(t, "gows.yaml", "max_rooms: 7\ncluster:\n  redis: redis://:pa55@127.0.0.1:6379/0\n")
	args := []string{"serve", "--check-config", "--config", file, "--http-addr", "127.0.0.1:1", "--login-timeout", "90s"}

	res := runCLI(t, args)
	if res.code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", res.code, res.stderr)
	}
	if strings.Contains(res.stdout, "pa55") {
		t.Errorf("the Redis password is printed:\n%s", res.stdout)
	}
	printed := strings.Replace(res.stdout, "redis://:xxxxx@", "redis://:pa55@", 1)
	got, back := parseServe(t, "--config", writeFile(t, "printed.yaml", printed))
	want, _ := parseServe(t, args[1:]...)
	if back.code != exitOK || got == nil || want == nil {
		t.Fatalf("the printed configuration does not load: exit %d, stderr:\n%s\nprinted:\n%s", back.code, back.stderr, res.stdout)
	}
	if !reflect.DeepEqual(got.config, want.config) || got.config.NodeID != "from-env" || got.config.MaxRooms != 7 || got.config.LoginTimeout != 90*time.Second {
		t.Errorf("printed and loaded back:\n%+v\nin effect:\n%+v", got.config, want.config)
	}

	t.Run("secrets are hidden", func(t *testing.T) {
		isolateEnv(t)
		res := runCLI(t, []string{"serve", "--check-config", "--auth-secret", "s3cret-s3cret-s3cret", "--admin-token", "adm1n"})
		if res.code != exitOK || strings.Contains(res.stdout, "s3cret") || strings.Contains(res.stdout, "adm1n") ||
			!strings.Contains(res.stdout, "auth_secret: (hidden)") || !strings.Contains(res.stdout, "admin_token: (hidden)") {
			t.Fatalf("exit %d, stdout:\n%s", res.code, res.stdout)
		}
	})
	t.Run("a file the configuration names is missing", func(t *testing.T) {
		isolateEnv(t)
		res := runCLI(t, []string{"serve", "--check-config", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"})
		if res.code != exitFailure || !strings.Contains(res.stderr, "invalid configuration: tls_cert/tls_key: open /nonexistent/cert.pem") || res.stdout != "" {
			t.Fatalf("exit %d, stdout %q, stderr:\n%s", res.code, res.stdout, res.stderr)
		}
	})
}

// With log_format json a duration is logged as its text ("15s"), not as nanoseconds.
func TestNewLogger_JSONDurationsAreText(t *testing.T) {
	var buf bytes.Buffer
	newLogger(&buf, "info", "json").Info("renewed", "ttl", 15*time.Second, "n", 3)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if rec["ttl"] != "15s" || rec["n"] != float64(3) {
		t.Fatalf("ttl = %#v, n = %#v, want \"15s\" and 3 (line %s)", rec["ttl"], rec["n"], buf.String())
	}
}

// The help's rule for file keys ("the variable's name without GOWS_, in lower case") does
// not give a nested key (GOWS_CLUSTER_REDIS is redis under cluster:, not cluster_redis,
// which the file refuses): the help must name every such section.
func TestServe_HelpExplainsNestedKeys(t *testing.T) {
	long := newServeCmd(&streams{}, nil).Long
	sections := map[string]bool{}
	for _, s := range serveSettings() {
		if section, _, nested := strings.Cut(s.key, "."); nested {
			sections[section] = true
		}
	}
	if len(sections) == 0 {
		t.Fatal("no nested settings: the test checks nothing")
	}
	for section := range sections {
		for _, want := range []string{envName(section) + "_*", "under " + section + ":"} {
			if !strings.Contains(long, want) {
				t.Errorf("gows serve --help does not say %q: its keys are not the variable names in lower case", want)
			}
		}
	}
}
