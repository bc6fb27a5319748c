package admin

import (
	"encoding/json"
	"testing"
)

// /system/nodes comes with the cluster; until a server answers it, these pin the two
// shapes the client reads.
func TestDecodeNodes_ReadsAnObjectOrAnArray(t *testing.T) {
	want := Node{NodeID: "a", HTTPAddr: "127.0.0.1:8080", Connections: 3, Users: 2}
	tests := []struct {
		name string
		raw  string
	}{
		{"object", `{"nodes":[{"nodeId":"a","httpAddr":"127.0.0.1:8080","connections":3,"users":2,"extra":true}]}`},
		{"array", `[{"nodeId":"a","httpAddr":"127.0.0.1:8080","connections":3,"users":2}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeNodes(json.RawMessage(tt.raw))
			if err != nil || len(got) != 1 || got[0] != want {
				t.Errorf("decodeNodes(%s) = %+v, %v; want [%+v]", tt.raw, got, err, want)
			}
		})
	}
	if _, err := decodeNodes(json.RawMessage(`"nodes"`)); err == nil {
		t.Error("a string decoded as a node list")
	}
}
