package main

import (
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gows-dev/gows/internal/server"
)

// The deployment files these tests keep in step with the code.
const (
	clusterConfigs = "../../deploy/cluster/*.yaml"
	envFile        = "../../deploy/systemd/gows.env"
	unitFile       = "../../deploy/systemd/gows.service"
	nginxConf      = "../../deploy/nginx/gows.conf"
)

// TestDeploy_ClusterConfigsLoadAndValidate loads every deploy/cluster/*.yaml through the
// real `gows serve --config` and validates it, as shipped (secrets unset) and with every
// secret of deploy/systemd/gows.env filled in, as on a real node.
func TestDeploy_ClusterConfigsLoadAndValidate(t *testing.T) {
	files := clusterFiles(t)
	secrets := map[string]string{}
	for _, name := range envFileNames(t) {
		secrets[name] = "0123456789abcdef0123456789abcdef" // long enough for every secret
	}
	for _, file := range files {
		for _, tc := range []struct {
			name string
			env  map[string]string
		}{
			{"as shipped", nil},
			{"with the secrets of gows.env", secrets},
		} {
			t.Run(filepath.Base(file)+"/"+tc.name, func(t *testing.T) {
				cfg := loadDeployConfig(t, file, tc.env)
				if !cfg.Cluster.Enabled() {
					t.Error("cluster mode is off: cluster.redis and cluster.redis_addrs are empty")
				}
				if cfg.NodeID == "" {
					t.Error("node_id is empty: nodes would be named hostname-pid, which changes on every restart")
				}
				if tc.env != nil && (cfg.AuthSecret == "" || cfg.AdminToken == "" || cfg.Cluster.Token == "") {
					t.Errorf("a secret of %s did not reach the config: auth_secret %t, admin_token %t, cluster.token %t",
						envFile, cfg.AuthSecret != "", cfg.AdminToken != "", cfg.Cluster.Token != "")
				}
			})
		}
	}
}

// TestDeploy_ClusterNodesDifferOnlyInNameAndPorts checks that the nodes form one cluster
// on one host: distinct names and ports, everything else the same.
func TestDeploy_ClusterNodesDifferOnlyInNameAndPorts(t *testing.T) {
	var first server.Config
	ids, ports := map[string]string{}, map[string]string{}
	for i, file := range clusterFiles(t) {
		cfg := loadDeployConfig(t, file, nil)
		if prev, ok := ids[cfg.NodeID]; ok {
			t.Errorf("%s and %s share node_id %q", prev, file, cfg.NodeID)
		}
		ids[cfg.NodeID] = file
		for _, addr := range []string{cfg.WSAddr, cfg.HTTPAddr, cfg.GRPCAddr} {
			port := portOf(t, addr)
			if prev, ok := ports[port]; ok {
				t.Errorf("%s and %s both listen on port %s", prev, file, port)
			}
			ports[port] = file
		}
		shared := cfg
		shared.NodeID, shared.WSAddr, shared.HTTPAddr, shared.GRPCAddr = "", "", "", ""
		if i == 0 {
			first = shared
		} else if !reflect.DeepEqual(shared, first) {
			t.Errorf("%s differs from the first node in more than node_id and ports:\n%+v\n%+v", file, shared, first)
		}
	}
}

// TestDeploy_NginxUpstreamsAreClusterNodes checks deploy/nginx/gows.conf against the
// cluster configs: every upstream is a node's WebSocket or HTTP port, the proxied path is
// the nodes' ws_path, and the nodes trust nginx's address as a proxy.
func TestDeploy_NginxUpstreamsAreClusterNodes(t *testing.T) {
	text, err := os.ReadFile(nginxConf)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []server.Config
	for _, file := range clusterFiles(t) {
		nodes = append(nodes, loadDeployConfig(t, file, nil))
	}
	upstreams := nginxUpstreams(string(text))
	for _, tc := range []struct {
		upstream string
		addr     func(server.Config) string
	}{
		{"gows_ws", func(c server.Config) string { return c.WSAddr }},
		{"gows_http", func(c server.Config) string { return c.HTTPAddr }},
	} {
		t.Run(tc.upstream, func(t *testing.T) {
			servers := upstreams[tc.upstream]
			if len(servers) == 0 {
				t.Fatalf("%s has no upstream %s (found %v)", nginxConf, tc.upstream, slices.Sorted(maps.Keys(upstreams)))
			}
			for _, s := range servers {
				i := slices.IndexFunc(nodes, func(c server.Config) bool { return portOf(t, tc.addr(c)) == portOf(t, s) })
				if i < 0 {
					t.Errorf("upstream %s server %s is no node's port", tc.upstream, s)
					continue
				}
				// nginx on the nodes' host connects from loopback, which the nodes
				// must trust for X-Forwarded-For.
				host, _, _ := net.SplitHostPort(s)
				if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() && !trusts(nodes[i].TrustedProxies, ip) {
					t.Errorf("node %s does not list nginx's address %s in trusted_proxies %v", nodes[i].NodeID, host, nodes[i].TrustedProxies)
				}
			}
		})
	}
	if m := regexp.MustCompile(`location\s*=\s*(\S+)\s*\{\s*proxy_pass\s+http://gows_ws;`).FindStringSubmatch(string(text)); m == nil {
		t.Errorf("%s: no exact location proxied to gows_ws", nginxConf)
	} else if m[1] != nodes[0].WSPath {
		t.Errorf("%s proxies %s as WebSocket, the nodes' ws_path is %s", nginxConf, m[1], nodes[0].WSPath)
	}
}

// TestDeploy_EnvFileNamesSettings guards against typos in deploy/systemd/gows.env: the
// loader ignores GOWS_* variables that name no setting.
func TestDeploy_EnvFileNamesSettings(t *testing.T) {
	known := map[string]bool{}
	for _, s := range serveSettings() {
		known[envName(s.key)] = true
	}
	names := envFileNames(t)
	if len(names) == 0 {
		t.Fatalf("%s sets no variable", envFile)
	}
	for _, name := range names {
		if !known[name] {
			t.Errorf("%s sets %s, which names no setting of gows serve", envFile, name)
		}
	}
}

// TestDeploy_UnitStopTimeoutCoversTheDrain checks that systemd does not SIGKILL a node
// that is still stopping by the book: TimeoutStopSec must cover the longest stop its
// settings allow, as the local launcher counts it (stopBudget: marking the node
// draining, drain_delay, closing the connections and then the HTTP API, the last
// presence notices and kicks, deregistering), for the default config and every
// deploy/cluster config.
func TestDeploy_UnitStopTimeoutCoversTheDrain(t *testing.T) {
	raw := unitValue(t, unitFile, "TimeoutStopSec")
	stop, err := time.ParseDuration(raw)
	if err != nil {
		t.Fatalf("%s: TimeoutStopSec=%s: %v", unitFile, raw, err)
	}
	configs := map[string]server.Config{"server.Default()": server.Default()}
	for _, file := range clusterFiles(t) {
		configs[file] = loadDeployConfig(t, file, nil)
	}
	for name, cfg := range configs {
		if need := stopBudget(cfg); stop < need {
			t.Errorf("%s: TimeoutStopSec=%s is shorter than the stop of %s (%s)", unitFile, raw, name, need)
		}
	}
}

// TestDeploy_UnitSignalsOnlyTheMainProcess checks that a stop sends SIGTERM to the main
// process alone. Under `gows serve --nodes N` the launcher passes one SIGTERM on to each
// node; systemd's default KillMode (control-group) would send every node its own as well,
// and a node's second SIGTERM ends it at once, without draining or deregistering.
func TestDeploy_UnitSignalsOnlyTheMainProcess(t *testing.T) {
	if got := unitValue(t, unitFile, "KillMode"); got != "mixed" {
		t.Errorf("%s: KillMode=%s, want mixed (SIGTERM to the main process, SIGKILL to all at the timeout)", unitFile, got)
	}
	if got := unitValue(t, unitFile, "KillSignal"); got != "SIGTERM" {
		t.Errorf("%s: KillSignal=%s, want SIGTERM (gows drains on it)", unitFile, got)
	}
}

// clusterFiles lists deploy/cluster/*.yaml: the three nodes.
func clusterFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(clusterConfigs)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("%s: want the 3 nodes' configs, found %v", clusterConfigs, files)
	}
	return files
}

// loadDeployConfig runs `gows serve --config file` with the environment cleared of GOWS_*
// variables but for env, and returns the validated config.
func loadDeployConfig(t *testing.T, file string, env map[string]string) server.Config {
	t.Helper()
	isolateEnv(t)
	for k, v := range env {
		t.Setenv(k, v)
	}
	got, res := parseServe(t, "--config", file)
	if res.code != exitOK || got == nil {
		t.Fatalf("gows serve --config %s: exit %d, stderr:\n%s", file, res.code, res.stderr)
	}
	if err := got.config.Validate(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return got.config
}

// envFileNames returns the variables deploy/systemd/gows.env sets, in order.
func envFileNames(t *testing.T) []string {
	t.Helper()
	text, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not NAME=value: %q", envFile, line)
		}
		names = append(names, name)
	}
	return names
}

// unitValue returns the value of the one line key=value of a systemd unit file.
func unitValue(t *testing.T, file, key string) string {
	t.Helper()
	text, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^`+key+`=(.*)$`).FindAllStringSubmatch(string(text), -1)
	if len(m) != 1 {
		t.Fatalf("%s: want one %s= line, found %d", file, key, len(m))
	}
	return strings.TrimSpace(m[0][1])
}

// nginxUpstreams returns the server addresses of every upstream block, by name.
func nginxUpstreams(conf string) map[string][]string {
	out := map[string][]string{}
	server := regexp.MustCompile(`(?m)^\s*server\s+([^\s;]+)`)
	for _, m := range regexp.MustCompile(`(?s)upstream\s+(\w+)\s*\{(.*?)\}`).FindAllStringSubmatch(conf, -1) {
		for _, s := range server.FindAllStringSubmatch(m[2], -1) {
			out[m[1]] = append(out[m[1]], s[1])
		}
	}
	return out
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return port
}

// trusts reports whether the trusted_proxies entries (addresses or CIDRs) cover ip.
func trusts(proxies []string, ip netip.Addr) bool {
	for _, p := range proxies {
		if pfx, err := netip.ParsePrefix(p); err == nil && pfx.Contains(ip) {
			return true
		}
		if a, err := netip.ParseAddr(p); err == nil && a == ip {
			return true
		}
	}
	return false
}
