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
#   scripts/million.sh                      # CONNS=1000000 NODES=54 RATE=6000 HOLD=60s
#   CONNS=100000 NODES=6 scripts/million.sh # a smaller run
#
# The nodes get more slack than the defaults (Redis calls 15s instead of 500ms, a 60s lease
# instead of 15s, 60s for gRPC calls and API requests): with a hundred busy processes on
# two cores each node gets a few percent of a core, a goroutine that reads a Redis answer
# can wait seconds for its turn, and the defaults would have the nodes declare Redis and
# each other dead (with 5s, a few dozen nodes marked Redis down during the ramp and
# rewrote their presence when it answered again).
#
# The offered rate defaults to about what this 2-core machine sustains (5,600/s on average
# with 54 nodes and 51 bench workers: 10,000/s at first, 4,000/s near a million); offering
# more mostly queues handshakes. On a loaded machine a
# handshake can wait seconds in the accept queue and a login seconds in a starved node's
# work queue, so bench gets 30s (default 10s) for each.
#
# Run as root, the whole run happens in a network namespace of its own (NETNS=off to stay
# in the host's): its TCP hash table is sized for the run (net.ipv4.tcp_child_ehash_entries;
# the host's table has 262,144 buckets, so two million sockets would mean chains of
# eight), its port and backlog settings are raised by scripts/sysctl.sh, and tools that
# walk the host's socket table (this sandbox's init does, every second) do not walk two
# million sockets. Node and bench processes run under SCHED_BATCH (BATCH=off to keep
# SCHED_OTHER): a message that wakes its receiver does not preempt the sender, so each
# process handles events in batches instead of one context switch per message.
#
# Environment: CONNS, NODES, RATE (new connections per second), HOLD, HEARTBEAT,
# SOURCE_IPS (default 127.0.8.0-127.0.15.255: 2,048 addresses, about 500 connections each;
# with 200 the kernel's port search per address slowed the ramp below 1,000/s), OUT (default ./million-<time>), NETNS, BATCH,
# PROFILE (1: CPU profiles of the whole machine with perf), and GOWS (a gows binary; default: built from this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=million.sh
# shellcheck source=scripts/it/lib.sh
source scripts/it/lib.sh

conns=${CONNS:-1000000}
load_run "$conns" "$0" "$@"

nodes=${NODES:-54}
rate=${RATE:-6000}
hold=${HOLD:-60s}
heartbeat=${HEARTBEAT:-120s}
source_ips=${SOURCE_IPS:-127.0.8.0-127.0.15.255}
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

http=$(free_port)
ws=$(free_port)
# On one machine Redis competes for the cores with ~100 node and bench processes: give it
# priority, as it would have its own cores in a real deployment.
start_redis "$out" nice -n -10

say "starting $nodes nodes on ws://127.0.0.1:$ws/acc (http $http)"
"${batch[@]}" "$gows" serve --nodes "$nodes" --node-id bench --redis "redis://127.0.0.1:$redis_port/0" \
	--http-addr "127.0.0.1:$http" --ws-addr "127.0.0.1:$ws" --grpc-addr 127.0.0.1:0 \
	--redis-timeout 15s --node-ttl 60s --rpc-timeout 60s --request-timeout 60s --log-level warn >"$out/nodes.log" 2>&1 &
pids+=($!)
all_nodes() {
	[[ $(curl -fsS "http://127.0.0.1:$http/system/nodes" | grep -o '"nodeId"' | wc -l) -eq $nodes ]]
}
for _ in $(seq 30); do
	wait_for all_nodes && break
done
all_nodes || die "the $nodes nodes did not all register"
redis-cli -p "$redis_port" info memory | grep -E '^used_memory:' >"$out/redis-before.txt"

init_cpu_before=$(awk '{print $14+$15}' /proc/1/stat)
say "bench: $conns connections at $rate/s from $source_ips, hold $hold"
status=0
"${batch[@]}" "$gows" bench --url "ws://127.0.0.1:$ws/acc" --conns "$conns" --rate "$rate" --source-ips "$source_ips" \
	--login --hold "$hold" --heartbeat "$heartbeat" --broadcast --server "http://127.0.0.1:$http" \
	--connect-timeout 30s --login-timeout 30s --json "$out/report.json" >"$out/report.txt" 2>"$out/bench.log" &
bench_pid=$!
# PROFILE=1: a system-wide CPU profile (perf, 15 s) during the ramp once 60 % of the
# connections are up, and another from the broadcast on; summarised at the end.
held_now() {
	local held
	held=$(grep -o 'held [0-9,]*' "$out/bench.log" 2>/dev/null | tail -1 | tr -dc 0-9)
	echo "${held:-0}"
}
record_phase() {
	ps -eo pid,args >"$out/ps-$1.txt"
	perf record -F 999 -e cpu-clock -a -g -o "$out/perf-$1.data" -- sleep 15 >/dev/null 2>&1 || true
}
if [[ ${PROFILE:-0} == 1 ]] && command -v perf >/dev/null; then
	(
		while (($(held_now) < conns * 6 / 10)) && kill -0 "$bench_pid" 2>/dev/null; do sleep 1; done
		record_phase ramp
		until grep -q '^hold' "$out/bench.log" || ! kill -0 "$bench_pid" 2>/dev/null; do sleep 0.5; done
		record_phase broadcast
	) &
	pids+=($!)
fi
# A CPU profile of one node (whichever answers) during the ramp, a minute in; a smaller
# run that is over by then gets none (and is not kept waiting).
for _ in $(seq 60); do
	kill -0 "$bench_pid" 2>/dev/null || break
	sleep 1
done
if kill -0 "$bench_pid" 2>/dev/null; then
	curl -fsS -o "$out/node-ramp.pprof" "http://127.0.0.1:$http/debug/pprof/profile?seconds=30" || true
fi
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
	echo "init(pid1) $(awk -v b="$init_cpu_before" '{printf "%.1f", ($14+$15-b)/100}' /proc/1/stat)"
	echo "bench $(python3 -c "import json;print(json.load(open('$out/report.json'))['cpu_seconds'])" 2>/dev/null)"
} | tee "$out/cpu.txt"

# Redis memory while the users are still listed (the bench has closed its connections, so
# the nodes are removing them; "peak" is what Redis saw at its highest).
redis-cli -p "$redis_port" info memory | grep -E '^(used_memory|used_memory_peak):' >"$out/redis-after.txt"
cat "$out/redis-before.txt" "$out/redis-after.txt"

# The goals of the million-connection benchmark (docs/bench.md), met or missed by how much.
python3 - "$out/report.json" "$conns" <<'PY' | tee "$out/goals.txt" || true
import json, sys
r = json.load(open(sys.argv[1]))
target = int(sys.argv[2])
b = r.get("broadcast") or {}

def secs(ms):
    # 29 ms is not "0.0 s": show milliseconds below a second.
    return f"{ms:,.0f} ms" if ms < 1000 else f"{ms / 1000:,.1f} s"

rows = [
    ("established, 0 failures", f"{r['established']:,} of {target:,}, {r['failed']:,} failed",
     r["established"] == target and r["failed"] == 0, None),
    ("server RSS <= 1.5 KiB per connection", f"{r['server_bytes_per_conn']:,.0f} bytes",
     r["server_bytes_per_conn"] <= 1536, r["server_bytes_per_conn"] / 1536),
    ("connect + login >= 15,000/s", f"{r['connect_rate']:,.0f}/s",
     r["connect_rate"] >= 15000, 15000 / max(r["connect_rate"], 1)),
    ("broadcast to every connection", f"{b.get('delivered', 0):,} of {b.get('expected', 0):,}",
     b.get("expected", 0) > 0 and b.get("delivered") == b.get("expected"), None),
    ("broadcast p99 <= 2 s", secs(b.get("p99_ms", 0)),
     0 < b.get("p99_ms", 0) <= 2000, b.get("p99_ms", 0) / 2000),
    ("memory left at the peak", f"MemAvailable {r['mem_available_peak_bytes'] / 2**30:,.1f} GiB",
     r["mem_available_peak_bytes"] > 0, None),
]
print("== goals")
for goal, got, met, ratio in rows:
    verdict = "met" if met else (f"missed, by {ratio:.1f}x" if ratio else "missed")
    print(f"{goal:40} {got:36} {verdict}")
PY
for phase in ramp broadcast; do
	[[ -s $out/perf-$phase.data ]] || continue
	perf script -i "$out/perf-$phase.data" -F comm,pid,tid,ip,sym 2>/dev/null >"$out/samples-$phase.txt"
	{
		echo "== CPU profile, $phase"
		scripts/perf-roles.py "$out/samples-$phase.txt" "$out/ps-$phase.txt"
	} | tee "$out/profile-$phase.txt"
done
"$gows" bench plot "$out/report.json" -o "$out/ramp.svg" \
	--title "gows: $(printf '%d' "$conns" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') connections, $nodes nodes, one 2-core machine" || true
say "report, plot and logs in $out"
exit "$status"
