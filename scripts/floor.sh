#!/usr/bin/env bash
# The kernel's floor under the million-connection benchmark (docs/bench.md): the same
# connections, processes and round trips as scripts/million.sh, made by a C program that
# does nothing else (scripts/floor/tcpfloor.c: no Go runtime, no WebSocket parsing, no
# JSON, no Redis). SERVERS processes share one port through SO_REUSEPORT and answer each
# request; CLIENTS processes open CONNS connections at RATE per second from many source
# addresses and do ROUNDS request/reply round trips on each (2: the upgrade and the
# login); then every server writes one message to each connection it holds (the
# broadcast), and the clients time each arrival. What this reaches on a machine is what
# the kernel alone allows there; gows cannot do better.
#
#   scripts/floor.sh                               # CONNS=1000000 SERVERS=54 CLIENTS=51 RATE=15000 ROUNDS=2
#   CONNS=100000 SERVERS=6 CLIENTS=6 scripts/floor.sh
#
# Run as root, it runs in a network namespace of its own, as million.sh does (NETNS=off
# to stay in the host's), under SCHED_BATCH (BATCH=off for SCHED_OTHER). Needs gcc.
# Environment also: SRC_FIRST, NSRC (source addresses; default 127.0.8.0 and 2048), WAIT
# (seconds to wait for the broadcast), OUT (default ./floor-<time>).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=floor.sh
# shellcheck source=scripts/it/lib.sh
source scripts/it/lib.sh

conns=${CONNS:-1000000}
load_run "$conns" "$0" "$@"
servers=${SERVERS:-54}
clients=${CLIENTS:-51}
rate=${RATE:-15000}
rounds=${ROUNDS:-2}
src_first=${SRC_FIRST:-127.0.8.0}
nsrc=${NSRC:-2048}
wait_s=${WAIT:-300}
out=${OUT:-$PWD/floor-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"
command -v gcc >/dev/null || die "gcc is required"
command -v python3 >/dev/null || die "python3 is required"
((nsrc >= clients)) || die "NSRC ($nsrc) must be at least CLIENTS ($clients)"

gcc -O2 -Wall -o "$out/tcpfloor" scripts/floor/tcpfloor.c
trap 'stop_started; exit' EXIT INT TERM

port=$(free_port)
serve_pids=()
for i in $(seq "$servers"); do
	"${batch[@]}" "$out/tcpfloor" serve 127.0.0.1 "$port" "$rounds" >"$out/serve-$i.txt" 2>&1 &
	pids+=($!)
	serve_pids+=($!)
done
listening() { ss -Hltn "sport = :$port" | grep -q .; }
wait_for listening || die "the servers do not listen on port $port"

ip2int() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo $(((a << 24) + (b << 16) + (c << 8) + d))
}
int2ip() { echo "$(($1 >> 24 & 255)).$(($1 >> 16 & 255)).$(($1 >> 8 & 255)).$(($1 & 255))"; }

first=$(ip2int "$src_first")
per_src=$((nsrc / clients))
init_cpu_before=$(awk '{print $14+$15}' /proc/1/stat)
say "$clients clients: $conns connections at $rate/s, $rounds round trips each, to $servers servers on port $port"
dial_pids=()
for ((i = 0; i < clients; i++)); do
	n=$((conns / clients + (i < conns % clients ? 1 : 0)))
	"${batch[@]}" "$out/tcpfloor" dial 127.0.0.1 "$port" "$(int2ip $((first + i * per_src)))" "$per_src" \
		"$n" "$(awk -v r="$rate" -v c="$clients" 'BEGIN{print r/c}')" "$rounds" "$wait_s" "$out/times-$i.txt" \
		>"$out/dial-$i.txt" 2>"$out/dial-$i.log" &
	pids+=($!)
	dial_pids+=($!)
done

# The broadcast starts once every client has finished its ramp (bounded: three times the
# paced ramp plus three minutes, for connections that wait out SYN retransmissions).
limit=$((SECONDS + 3 * conns / (rate > 0 ? rate : 100000) + 180))
ramped() { [[ $(cat "$out"/dial-*.log 2>/dev/null | grep -c 'ramp done') -ge $clients ]]; }
while ! ramped && ((SECONDS < limit)); do
	sleep 1
	say "up: $(cat "$out"/dial-*.log | grep -c 'ramp done') of $clients clients done"
done
ramped || say "not every client finished its ramp; broadcasting anyway"
date +%s.%N >"$out/broadcast-start.txt"
kill -USR1 "${serve_pids[@]}"
for pid in "${dial_pids[@]}"; do wait "$pid" || true; done
init_cpu=$(awk -v b="$init_cpu_before" '{printf "%.1f", ($14+$15-b)/100}' /proc/1/stat)
kill -TERM "${serve_pids[@]}"
for pid in "${serve_pids[@]}"; do wait "$pid" || true; done
pids=()

python3 - "$out" "$conns" "$init_cpu" <<'PY' | tee "$out/summary.txt"
import glob, sys
out, target, init_cpu = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
rows = []
for f in glob.glob(f"{out}/serve-*.txt") + glob.glob(f"{out}/dial-*.txt"):
    for line in open(f):
        if line.startswith("role="):
            rows.append(dict(kv.split("=", 1) for kv in line.split()))
serve = [r for r in rows if r["role"] == "serve"]
dial = [r for r in rows if r["role"] == "dial"]
up = sum(int(r["up"]) for r in dial)
failed = sum(int(r["failed"]) for r in dial)
dropped = sum(int(r["dropped"]) for r in dial)
start = min(float(r["start"]) for r in dial)
end = max(float(r["ramp_end"]) or float(r["start"]) for r in dial)
t0 = float(open(f"{out}/broadcast-start.txt").read())
lat = sorted(float(x) - t0 for f in glob.glob(f"{out}/times-*.txt") for x in open(f))
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
cpu_s = sum(float(r["cpu"]) for r in serve)
cpu_d = sum(float(r["cpu"]) for r in dial)
print(f"servers {len(serve)}, clients {len(dial)}")
print(f"established   {up:,} of {target:,}, {failed:,} failed, {dropped:,} dropped after")
print(f"connect rate  {up / (end - start):,.0f}/s over {end - start:.1f} s")
print(f"broadcast     {len(lat):,} of {up:,} delivered; p50 {pct(0.5):.2f} s, p99 {pct(0.99):.2f} s, max {pct(1.0):.2f} s")
print(f"broadcast CPU {sum(float(r['broadcast_cpu']) for r in serve):.1f} s in the servers' write loops")
print(f"CPU seconds   servers {cpu_s:.1f}, clients {cpu_d:.1f}, init(pid1) {init_cpu:.1f}; "
      f"{(cpu_s + cpu_d) / max(up, 1) * 1e6:.0f} us per connection without init")
PY
say "logs and arrival times in $out"
