#!/usr/bin/env bash
# Integration test of deploy/nginx/gows.conf: Redis, two gows nodes and nginx on loopback
# ports. A chat client connected through nginx's single public port must receive a push
# sent through the node it is not connected to (and one sent through nginx's HTTP side).
#
#   scripts/it/nginx.sh
#
# Needs nginx and redis-server (Debian packages) and go. Without them it skips, unless
# CI is set. Everything it starts runs in a temporary directory and is killed on exit.
set -euo pipefail

cd "$(dirname "$0")/../.."

NAME=nginx.sh
# shellcheck source=scripts/it/lib.sh
source scripts/it/lib.sh
need nginx redis-server curl go

tmp=$(mktemp -d)
cleanup() {
	local status=$?
	exec 3>&- 2>/dev/null || true
	[[ -n ${redis_pid:-} ]] && kill -CONT "$redis_pid" 2>/dev/null # a stopped Redis would not see the TERM
	stop_started TERM # TERM: the nginx master stops its workers (KILL would orphan them)
	((status == 0)) || show_logs "$tmp"/*.log "$tmp"/alice.out
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT INT TERM

say "building gows"
go build -o "$tmp/gows" ./cmd/gows

start_redis "$tmp"
redis_pid=${pids[-1]}

declare -A http ws
for node in a b; do
	http[$node]=$(free_port)
	ws[$node]=$(free_port)
	"$tmp/gows" serve --node-id "it-$node" --redis "redis://127.0.0.1:$redis_port/0" \
		--http-addr "127.0.0.1:${http[$node]}" --ws-addr "127.0.0.1:${ws[$node]}" --grpc-addr 127.0.0.1:0 \
		--trusted-proxies 127.0.0.1 --node-ttl 3s --log-level warn >"$tmp/node-$node.log" 2>&1 &
	pids+=($!)
done
for node in a b; do
	wait_for curl -fsS "http://127.0.0.1:${http[$node]}/readyz" || die "node $node did not become ready"
done

# The shipped config with this run's ports, inside a minimal nginx.conf.
public=$(free_port)
sed -e "s/listen 80;/listen 127.0.0.1:$public;/" \
	-e "s/127.0.0.1:8089/127.0.0.1:${ws[a]}/" -e "s/127.0.0.1:8090/127.0.0.1:${ws[b]}/" \
	-e "s/127.0.0.1:8080/127.0.0.1:${http[a]}/" -e "s/127.0.0.1:8081/127.0.0.1:${http[b]}/" \
	-e "/127.0.0.1:809[1-9]/d" -e "/127.0.0.1:808[2-9]/d" \
	deploy/nginx/gows.conf >"$tmp/gows.conf"
user_line=""
[[ $(id -u) -eq 0 ]] && user_line="user root root;"
cat >"$tmp/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 256; }
http {
    log_format upstreams '\$request \$status upstreams=\$upstream_addr statuses=\$upstream_status';
    access_log $tmp/nginx-access.log upstreams;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    include $tmp/gows.conf;
}
CONF
nginx -t -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/nginx-t.log" 2>&1 || die "nginx -t refused the config: $(cat "$tmp/nginx-t.log")"
nginx -p "$tmp" -c "$tmp/nginx.conf" -g "daemon off;" >"$tmp/nginx.log" 2>&1 &
pids+=($!)
wait_for curl -fsS "http://127.0.0.1:$public/healthz" || die "nginx did not proxy /healthz"
# The chat page served through nginx connects through nginx (the page's own port).
curl -fsS "http://127.0.0.1:$public/" | grep -q '"wsPort":0' ||
	die "the chat page served through nginx points at a node's own WebSocket port"
two_nodes() { [[ $(curl -fsS "http://127.0.0.1:$public/system/nodes" | grep -o '"nodeId"' | wc -l) -eq 2 ]]; }
wait_for two_nodes || die "the cluster did not list two nodes through nginx"

# alice connects through nginx; her input stays open on fd 3 until the end.
mkfifo "$tmp/alice.in"
"$tmp/gows" chat --no-tui --url "ws://127.0.0.1:$public/acc" --user alice --app-id 101 \
	<"$tmp/alice.in" >"$tmp/alice.out" 2>"$tmp/alice.log" &
pids+=($!)
exec 3>"$tmp/alice.in"

online() { curl -fsS "http://127.0.0.1:$public/user/online?appId=101&userId=alice"; }
wait_for sh -c "curl -fsS 'http://127.0.0.1:$public/user/online?appId=101&userId=alice' | grep -q '\"online\":true'" ||
	die "alice did not come online through nginx"
home=$(online | sed -n 's/.*"nodeId":"\([^"]*\)".*/\1/p')
case $home in
it-a) other=b ;;
it-b) other=a ;;
*) die "alice is on an unknown node: $(online)" ;;
esac
say "alice is connected through nginx to $home; pushing through node it-$other"

curl -fsS -X POST "http://127.0.0.1:${http[$other]}/user/sendMessage" \
	-d appId=101 -d userId=alice -d message="hello from it-$other" >"$tmp/push.json" ||
	die "push through it-$other failed: $(cat "$tmp/push.json")"
grep -q '"delivered":1' "$tmp/push.json" || die "push answer: $(cat "$tmp/push.json")"
wait_for grep -q "hello from it-$other" "$tmp/alice.out" || die "alice did not receive the push sent through it-$other"

curl -fsS -X POST "http://127.0.0.1:$public/user/sendMessage" \
	-d appId=101 -d userId=alice -d message="hello through nginx" >/dev/null || die "push through nginx failed"
wait_for grep -q "hello through nginx" "$tmp/alice.out" || die "alice did not receive the push sent through nginx"

# Redis stops answering (SIGSTOP): a cluster-wide request answers 503 on every node. nginx
# must pass that answer on without marking the nodes failed: health checks and
# broadcasts, which work without Redis, still go through.
# (Twice: nginx passes on the last node's answer as it is, having marked the others.)
kill -STOP "$redis_pid"
for _ in 1 2; do
	code=$(curl -sS -o "$tmp/list.json" -w '%{http_code}' "http://127.0.0.1:$public/user/list?appId=101")
	[[ $code == 503 ]] && grep -q '"code":1009' "$tmp/list.json" ||
		die "user list through nginx with Redis stopped: HTTP $code $(cat "$tmp/list.json"), want 503 with code 1009"
done
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$public/healthz")
[[ $code == 200 ]] || die "/healthz through nginx after a 503 answered HTTP $code: nginx marked the nodes failed"
curl -fsS -X POST "http://127.0.0.1:$public/user/sendMessageAll" \
	-d appId=101 -d message="broadcast without redis" >"$tmp/all.json" || die "broadcast through nginx with Redis stopped failed"
wait_for grep -q "broadcast without redis" "$tmp/alice.out" || die "alice did not receive the broadcast sent while Redis was stopped"
kill -CONT "$redis_pid"

say "ok: a client behind nginx received pushes sent through the other node and through nginx, and a broadcast while Redis was stopped"
