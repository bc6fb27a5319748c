package rpc_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gows-dev/gows/internal/server/rpc"
	"github.com/gows-dev/gows/internal/testutil"
)

// BenchmarkFanout compares the two ways a broadcast can reach the other nodes, each
// with 100 local recipients per peer:
//
//   - grpc: one unary SendApp per peer, in parallel (rpc.Peers.SendApp); the call
//     returns when every peer has queued the message, with each peer's delivered count;
//   - pubsub: one Redis PUBLISH; every peer's subscriber queues the message locally.
//     The publisher learns only how many subscribers got it, not how many
//     connections, and a peer that misses it (reconnecting) loses it silently.
//
// Latency is from the send to the moment the last peer has queued the message.
//
//	go test -run '^$' -bench BenchmarkFanout ./internal/server/rpc/
func BenchmarkFanout(b *testing.B) {
	for _, peers := range []int{2, 4} {
		b.Run(fmt.Sprintf("grpc/peers=%d", peers), func(b *testing.B) { benchGRPC(b, peers) })
		b.Run(fmt.Sprintf("pubsub/peers=%d", peers), func(b *testing.B) { benchPubSub(b, peers) })
	}
}

func benchNodes(b *testing.B, n int) ([]*node, []rpc.Target) {
	var nodes []*node
	var targets []rpc.Target
	for i := range n {
		nd := startNode(b, "")
		for j := range 100 {
			nd.login(1, fmt.Sprintf("u%d", j), 1)
		}
		nodes = append(nodes, nd)
		targets = append(targets, rpc.Target{ID: fmt.Sprintf("n%d", i), Addr: nd.addr})
	}
	return nodes, targets
}

func benchGRPC(b *testing.B, n int) {
	_, targets := benchNodes(b, n)
	p := newPeers(b, "", 2*time.Second)
	payload := []byte(`{"seq":"","cmd":"msg","response":{"code":200,"codeMsg":"Success","data":{"target":"","type":"text","msg":"hello","from":""}}}`)
	p.SendApp(b.Context(), targets, 1, "", payload) // connect first
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		for _, r := range p.SendApp(b.Context(), targets, 1, "", payload) {
			if r.Err != nil || r.Value != 100 {
				b.Fatalf("send app: %+v", r)
			}
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func benchPubSub(b *testing.B, n int) {
	r := testutil.StartRedis(b)
	nodes, _ := benchNodes(b, n)
	pub := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer pub.Close()
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	done := make(chan int, 1024)
	var subs []*redis.PubSub
	var ready []chan struct{}
	for _, nd := range nodes {
		ps := redis.NewClient(&redis.Options{Addr: r.Addr}).Subscribe(ctx, "bench")
		if _, err := ps.Receive(ctx); err != nil { // the subscription confirmation
			b.Fatal(err)
		}
		subs = append(subs, ps)
		stopped := make(chan struct{})
		ready = append(ready, stopped)
		go func() { // one receive loop per subscription, ended by its Close below
			defer close(stopped)
			for msg := range ps.Channel() {
				done <- nd.hub.SendApp(1, []byte(msg.Payload), "")
			}
		}()
	}
	defer func() {
		for i, ps := range subs {
			_ = ps.Close() // ends its receive loop
			<-ready[i]
		}
	}()
	payload := `{"seq":"","cmd":"msg","response":{"code":200,"codeMsg":"Success","data":{"target":"","type":"text","msg":"hello","from":""}}}`
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		got, err := pub.Publish(ctx, "bench", payload).Result()
		if err != nil || got != int64(n) {
			b.Fatalf("publish reached %d subscribers (%v), want %d", got, err, n)
		}
		for range n {
			if d := <-done; d != 100 {
				b.Fatalf("a subscriber delivered %d", d)
			}
		}
		lat = append(lat, time.Since(start))
	}
	reportLatency(b, lat)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}
