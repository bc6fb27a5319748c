#!/usr/bin/env bash
# The one-million-connection benchmark on one machine (docs/bench.md): Redis, a local
# cluster of NODES node processes sharing the WebSocket and HTTP ports (gows serve --nodes,
# SO_REUSEPORT), and gows bench opening CONNS logged-in connections from many 127.x source
# addresses in as many worker processes as the file limit needs: ramp, login, hold,
# one broadcast through the cluster, close. It writes the JSON report, Redis's memory, the
# machine's memory at the peak and an SVG plot of the ramp into OUT, and stops everything
# it started. A benchmark, not a test: run it on a machine of its own.
#
#   sudo scripts/sysctl.sh                  # real servers: file and port limits first
#   scripts/million.sh                      # CONNS=1000000 NODES=54 RATE=15000 HOLD=60s
#   CONNS=100000 NODES=6 scripts/million.sh # a smaller run
#
# The nodes get more slack than the defaults (Redis calls 5s instead of 500ms, a 60s lease
# instead of 15s, 60s for gRPC calls and API requests): with a hundred busy processes on two cores a Redis
# round trip can take seconds, and the defaults would have the nodes declare each other dead.
#
# The offered rate defaults to what this 2-core machine sustains (about 3,500/s with 54
# nodes and 51 bench workers); offering more only queues handshakes. On a loaded machine a
# handshake can wait seconds in the accept queue, so bench gets 30s (default 10s) for one.
#
# Environment: CONNS, NODES, RATE (new connections per second), HOLD, HEARTBEAT,
# SOURCE_IPS (default 127.0.0.2-127.0.0.201), OUT (default ./million-<time>), and
# GOWS (a gows binary; default: built from this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=million.sh
# shellcheck source=scripts/it/lib.sh
source scripts/it/lib.sh

conns=${CONNS:-1000000}
nodes=${NODES:-54}
rate=${RATE:-5000}
hold=${HOLD:-60s}
heartbeat=${HEARTBEAT:-120s}
source_ips=${SOURCE_IPS:-127.0.0.2-127.0.0.201}
out=${OUT:-$PWD/million-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
for cmd in redis-server redis-cli curl; do
	command -v "$cmd" >/dev/null || die "$cmd is required"
done

gows=${GOWS:-}
if [[ -z $gows ]]; then
	say "building gows"
	go build -o "$out/gows" ./cmd/gows
	gows=$out/gows
fi

cleanup() {
	local status=$?
	stop_started # newest first: the nodes deregister before Redis stops
	exit "$status"
}
trap cleanup EXIT INT TERM

redis_port=$(free_port)
http=$(free_port)
ws=$(free_port)
# On one machine Redis competes for the cores with ~100 node and bench processes: give it
# priority, as it would have its own cores in a real deployment.
nice -n -10 redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
pids+=($!)
wait_for redis-cli -p "$redis_port" ping || die "redis-server did not start"

say "starting $nodes nodes on ws://127.0.0.1:$ws/acc (http $http)"
"$gows" serve --nodes "$nodes" --node-id bench --redis "redis://127.0.0.1:$redis_port/0" \
	--http-addr "127.0.0.1:$http" --ws-addr "127.0.0.1:$ws" --grpc-addr 127.0.0.1:0 \
	--redis-timeout 5s --node-ttl 60s --rpc-timeout 60s --request-timeout 60s --log-level warn >"$out/nodes.log" 2>&1 &
pids+=($!)
all_nodes() {
	[[ $(curl -fsS "http://127.0.0.1:$http/system/nodes" | grep -o '"nodeId"' | wc -l) -eq $nodes ]]
}
for _ in $(seq 30); do
	wait_for all_nodes && break
done
all_nodes || die "the $nodes nodes did not all register"
redis-cli -p "$redis_port" info memory | grep -E '^used_memory:' >"$out/redis-before.txt"

say "bench: $conns connections at $rate/s from $source_ips, hold $hold"
status=0
"$gows" bench --url "ws://127.0.0.1:$ws/acc" --conns "$conns" --rate "$rate" --source-ips "$source_ips" \
	--login --hold "$hold" --heartbeat "$heartbeat" --broadcast --server "http://127.0.0.1:$http" \
	--connect-timeout 30s --json "$out/report.json" >"$out/report.txt" 2>"$out/bench.log" &
bench_pid=$!
# A CPU profile of one node (whichever answers) during the ramp.
sleep 60 && curl -fsS -o "$out/node-ramp.pprof" "http://127.0.0.1:$http/debug/pprof/profile?seconds=30" || true
wait "$bench_pid" || status=$?
cat "$out/report.txt"

# Where the CPU went: every process this run started, and the machine's own init (which
# scans sockets in this sandbox), in CPU seconds.
cpu_of() { awk '{printf "%.1f", ($14+$15)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; }
{
	echo "redis-server $(cpu_of "$(pgrep -f "redis-server.*:$redis_port" | head -1)")"
	node_cpu=0
	for pid in $(pgrep -f "serve .*--node-id=bench-node"); do
		node_cpu=$(awk -v a="$node_cpu" -v b="$(cpu_of "$pid")" 'BEGIN{printf "%.1f", a+b}')
	done
	echo "nodes $node_cpu"
	echo "init(pid1) $(cpu_of 1)"
	echo "bench $(python3 -c "import json;print(json.load(open('$out/report.json'))['cpu_seconds'])" 2>/dev/null)"
} | tee "$out/cpu.txt"

# Redis memory while the users are still listed (the bench has closed its connections, so
# the nodes are removing them; "peak" is what Redis saw at its highest).
redis-cli -p "$redis_port" info memory | grep -E '^(used_memory|used_memory_peak):' >"$out/redis-after.txt"
cat "$out/redis-before.txt" "$out/redis-after.txt"
"$gows" bench plot "$out/report.json" -o "$out/ramp.svg" \
	--title "gows: $conns connections, $nodes nodes, one 2-core machine" || true
say "report, plot and logs in $out"
exit "$status"
