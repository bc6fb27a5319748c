#!/usr/bin/env bash
# Checks deploy/prometheus/gows-alerts.yml, the alerting rules of docs/operations.md:
#   1. `promtool check rules` (syntax, PromQL, templates);
#   2. `promtool test rules` on gows-alerts.test.yml (each alert fires on the series that
#      should fire it, and a healthy three-node cluster fires none);
#   3. every metric the rules name exists on real nodes: two `gows serve` in a cluster
#      through Redis, after a push, a refused handshake and a cross-node call;
#   4. every expression is the one the docs' table shows, and the other way round.
#
#   scripts/it/alerts.sh
#
# Needs promtool (Debian: prometheus), redis-server, curl, python3 and go.
set -euo pipefail
cd "$(dirname "$0")/../.."
NAME=alerts.sh
# shellcheck source=scripts/it/lib.sh
source scripts/it/lib.sh
need promtool redis-server redis-cli curl go python3

rules=deploy/prometheus/gows-alerts.yml
with_workdir

say "promtool check rules"
promtool check rules "$rules" >"$tmp/check.log" 2>&1 || { cat "$tmp/check.log" >&2; die "promtool check rules failed"; }
say "promtool test rules"
(cd deploy/prometheus && promtool test rules gows-alerts.test.yml) >"$tmp/test.log" 2>&1 ||
	{ cat "$tmp/test.log" >&2; die "promtool test rules failed"; }

say "building gows"
go build -o "$tmp/gows" ./cmd/gows
start_redis "$tmp"
http=()
for i in 1 2; do
	h=$(free_port)
	w=$(free_port)
	"$tmp/gows" serve --node-id "alerts$i" --redis "redis://127.0.0.1:$redis_port/0" \
		--http-addr "127.0.0.1:$h" --ws-addr "127.0.0.1:$w" --grpc-addr 127.0.0.1:0 \
		--log-level warn >"$tmp/node$i.log" 2>&1 &
	pids+=("$!")
	http+=("$h")
	ws=$w
done
two_nodes() { [[ $(curl -fsS "http://127.0.0.1:${http[0]}/system/nodes" | grep -o '"nodeId"' | wc -l) -eq 2 ]]; }
wait_for two_nodes || die "the two nodes did not find each other"
# A push (to a user who is not online), a handshake refused (a plain GET on the WebSocket
# port) and the node list (gRPC calls to the peer): the labelled metrics exist once used.
curl -sS -o /dev/null -d 'appId=101&userId=nobody&message=hi' "http://127.0.0.1:${http[0]}/user/sendMessage"
curl -sS -o /dev/null "http://127.0.0.1:$ws/acc" || true
curl -fsS -o /dev/null "http://127.0.0.1:${http[0]}/system/nodes"
curl -fsS "http://127.0.0.1:${http[0]}/metrics" >"$tmp/metrics1.txt"
curl -fsS "http://127.0.0.1:${http[1]}/metrics" >"$tmp/metrics2.txt"

say "rules against docs/operations.md and the metrics of two nodes"
python3 - "$rules" docs/operations.md "$tmp/metrics1.txt" "$tmp/metrics2.txt" <<'PY' || die "the rules, the docs' table of alerts and the exported metrics disagree"
import re, sys
text = open(sys.argv[1]).read()
# Each rule is "- alert: NAME" with its one-line "expr:" (no YAML library needed).
rules = [{"alert": a, "expr": e} for a, e in
         re.findall(r"^\s*- alert: (\S+)\n(?:\s*#.*\n)*\s*expr: (.+)$", text, re.M)]
bad = []
if len(rules) != text.count("- alert:"):
    bad.append("cannot read every rule's expr: keep each on the line after its alert")

# The docs' table: the first `code` of the second column is the expression.
norm = lambda e: " ".join(e.split())
in_rules = {norm(r["expr"]): r["alert"] for r in rules}
doc = open(sys.argv[2]).read().split("### Alerts", 1)[1].split("\n## ", 1)[0]
in_docs = {}
for row in doc.splitlines():
    cols = re.split(r"(?<!\\)\|", row)
    if len(cols) < 4 or not cols[2].strip().startswith("`"):
        continue
    expr = re.match(r"\s*`([^`]*)`", cols[2]).group(1).replace("\\|", "|")
    in_docs[norm(expr)] = cols[1].strip()
bad += [f"docs alert {n!r}: no rule has the expression {e}" for e, n in in_docs.items() if e not in in_rules]
bad += [f"rule {n}: the docs' table has no row with the expression {e}" for e, n in in_rules.items() if e not in in_docs]

# Every metric a rule names is exported by a node.
have = set()
for f in sys.argv[3:]:
    for line in open(f):
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            have.add(m.group(1))
            if m.group(2) == "histogram":
                have.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
for r in rules:
    for name in sorted(set(re.findall(r"\b((?:gows|process|go)_[a-z_]+)\b", r["expr"]))):
        if name not in have:
            bad.append(f"rule {r['alert']}: gows does not export {name}")
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
say "ok: $(grep -c '^      - alert:' "$rules") rules checked, tested and matched to the docs and the metrics"
