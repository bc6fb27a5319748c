package main

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"
)

// TestLoadConfig_NestedKeys shows how a nested config struct is bound: dotted file keys,
// GOWS_A_B variables and ordinary flags.
func TestLoadConfig_NestedKeys(t *testing.T) {
	type cluster struct {
		RedisAddr string   `mapstructure:"redis_addr"`
		Nodes     []string `mapstructure:"nodes"`
	}
	type config struct {
		Name    string  `mapstructure:"name"`
		Cluster cluster `mapstructure:"cluster"`
	}
	table := []setting{
		{"name", "name", "node name"},
		{"cluster.redis_addr", "redis-addr", "Redis address"},
		{"cluster.nodes", "nodes", "peer nodes"},
	}
	def := config{Name: "default"}

	isolateEnv(t)
	t.Setenv("GOWS_CLUSTER_NODES", "n1, n2")
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	addSettingFlags(fs, def, table)
	if err := fs.Parse([]string{"--name", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "c.yaml", "name: from-file\ncluster:\n  redis_addr: 127.0.0.1:6379\n")

	got, err := loadConfig(fs, file, def, table)
	if err != nil {
		t.Fatal(err)
	}
	want := config{Name: "from-flag", Cluster: cluster{RedisAddr: "127.0.0.1:6379", Nodes: []string{"n1", "n2"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	bad := writeFile(t, "bad.yaml", "cluster:\n  redis_adr: x\n")
	if _, err := loadConfig(fs, bad, def, table); err == nil || err.Error() != `config file `+bad+`: unknown key "cluster.redis_adr"` {
		t.Errorf("unknown nested key: err = %v", err)
	}
}
