#!/usr/bin/env bash
# The one-million-connection path at CI scale (docs/bench.md): Redis, `gows serve --nodes 3`
# (three node processes sharing the WebSocket and HTTP ports through SO_REUSEPORT, gRPC
# ports picked by the kernel) and `gows bench` with 20,000 logged-in connections from two
# worker processes: ramp, login, hold, one broadcast through the cluster, close. It checks
# that every connection was established and got the broadcast, with no failures, and that
# the bench saw the three nodes; then that the launcher starts a node killed with SIGKILL
# again and stops them all on SIGTERM.
#
#   scripts/it/cluster-small.sh          (CONNS=20000 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=cluster-small.sh
# shellcheck source=scripts/it/lib.sh
source scripts/it/lib.sh
need redis-server redis-cli curl go python3 pgrep

conns=${CONNS:-20000}
with_workdir

say "building gows"
go build -o "$tmp/gows" ./cmd/gows

start_redis "$tmp"

http=$(free_port)
ws=$(free_port)
"$tmp/gows" serve --nodes 3 --node-id ci --redis "redis://127.0.0.1:$redis_port/0" \
	--http-addr "127.0.0.1:$http" --ws-addr "127.0.0.1:$ws" --grpc-addr 127.0.0.1:0 \
	--node-ttl 3s --log-level warn >"$tmp/nodes.log" 2>&1 &
launcher=$!
pids+=("$launcher")
three_nodes() { [[ $(curl -fsS "http://127.0.0.1:$http/system/nodes" | grep -o '"nodeId"' | wc -l) -eq 3 ]]; }
wait_for three_nodes || die "the three nodes did not register"
say "3 nodes up on ws://127.0.0.1:$ws/acc; benching $conns connections"

"$tmp/gows" bench --url "ws://127.0.0.1:$ws/acc" --conns "$conns" --workers 2 --rate 5000 \
	--login --hold 5s --heartbeat 2s --broadcast --server "http://127.0.0.1:$http" \
	--max-failures 0 --json "$tmp/report.json" >"$tmp/bench.out" 2>"$tmp/bench.log" ||
	{ cat "$tmp/bench.out" >&2; die "bench failed"; }
cat "$tmp/bench.out"

python3 - "$tmp/report.json" "$conns" <<'PY' || die "the report does not show a clean run"
import json, sys
r = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
b = r["broadcast"] or {}
checks = {
    "established": r["established"] == want,
    "failed": r["failed"] == 0,
    "workers": r["workers"] == 2,
    "broadcast delivered": b.get("delivered") == want and b.get("expected") == want,
    "three server nodes": len(r["servers"]) == 3,
    "server connections at the peak": sum(s["conns_peak"] for s in r["servers"]) == want,
}
bad = [k for k, ok in checks.items() if not ok]
if bad:
    print("failed checks:", ", ".join(bad), file=sys.stderr)
    sys.exit(1)
PY

# The launcher's supervision: a node killed with SIGKILL is started again (under its
# name), and one SIGTERM stops every node and then the launcher, with status 0.
node_pids() { pgrep -P "$launcher" | sort; }
mapfile -t before < <(node_pids)
((${#before[@]} == 3)) || die "the launcher has ${#before[@]} node processes, want 3"
kill -KILL "${before[0]}"
restarted() { mapfile -t now < <(node_pids) && ((${#now[@]} == 3)) && [[ " ${now[*]} " != *" ${before[0]} "* ]] && three_nodes; }
wait_for restarted || die "the killed node was not started again"
mapfile -t nodes < <(node_pids)
kill -TERM "$launcher"
rc=0
wait "$launcher" || rc=$?
((rc == 0)) || die "the launcher exited with status $rc after SIGTERM"
for p in "${nodes[@]}"; do
	! kill -0 "$p" 2>/dev/null || die "node process $p outlived the launcher"
done
grep -q "died; restarting" "$tmp/nodes.log" || die "the launcher did not log the restart"

say "ok: $conns connections over 3 nodes and 2 bench workers, 0 failures, broadcast delivered to all; a killed node restarted, all stopped on SIGTERM"
