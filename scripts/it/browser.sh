#!/usr/bin/env bash
# Real-browser test of the web chat page: builds gows, starts `gows serve` on free loopback
# ports (and a second one that requires login tokens and sends no presence notices), and
# drives pages in Debian's headless
# Chromium with tests/browser/chat.test.mjs, then checks the Origin policy from a cross-site
# page with tests/browser/origin.test.mjs (playwright-core from npm; no browser is ever
# downloaded). The servers are always stopped.
#
#   scripts/it/browser.sh
#
# Needs go, node >= 20 with npm, and /usr/bin/chromium (installed with apt-get when missing
# and running as root). Environment: CHROMIUM overrides the browser binary.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
chromium=${CHROMIUM:-/usr/bin/chromium}

log() { printf 'browser.sh: %s\n' "$*" >&2; }

# apt_get runs apt-get, waiting (bounded) for another apt or dpkg process to release its locks.
apt_get() {
	local i
	for i in $(seq 1 60); do
		if apt-get -o DPkg::Lock::Timeout=60 "$@"; then
			return 0
		fi
		log "apt-get $* failed (attempt $i); the apt lock may be busy, retrying in 5s"
		sleep 5
	done
	return 1
}

if [[ ! -x $chromium ]]; then
	if [[ $(id -u) -ne 0 ]]; then
		log "$chromium is missing; install Debian's chromium package (apt-get install -y chromium)"
		exit 1
	fi
	log "installing chromium with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	apt_get update -qq
	apt_get install -y -qq chromium >/dev/null
fi
for tool in go node npm curl; do
	command -v "$tool" >/dev/null || { log "$tool is required"; exit 1; }
done

tmp=$(mktemp -d)
server_pid=
server_pids=()
cleanup() {
	local pid
	for pid in "${server_pids[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$tmp"
}
trap cleanup EXIT

log "installing node dependencies"
(cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null)

log "building gows"
go build -o "$tmp/gows" ./cmd/gows

# free_ports prints two distinct free loopback ports. They are free when printed; the
# server could lose one to a race, so start_server retries with new ones.
free_ports() {
	node -e '
		const net = require("node:net");
		const a = net.createServer().listen(0, "127.0.0.1", () => {
			const b = net.createServer().listen(0, "127.0.0.1", () => {
				console.log(a.address().port, b.address().port);
				a.close(); b.close();
			});
		});'
}

# start_server NAME [FLAG...] starts gows serve with the flags, logging to $tmp/NAME.log,
# and waits (at most 20s) for /healthz; it sets base_url and ws_port. It returns 1 when
# the server exits early (e.g. a port was taken meanwhile).
start_server() {
	local name=$1
	shift
	read -r http_port ws_port < <(free_ports)
	base_url="http://127.0.0.1:$http_port"
	"$tmp/gows" serve --http-addr "127.0.0.1:$http_port" --ws-addr "127.0.0.1:$ws_port" "$@" \
		>"$tmp/$name.log" 2>&1 &
	server_pid=$!
	server_pids+=("$server_pid")
	local i
	for i in $(seq 1 200); do
		if curl -fsS -o /dev/null --max-time 2 "$base_url/healthz" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$server_pid" 2>/dev/null; then
			wait "$server_pid" || true
			server_pid=
			return 1
		fi
		sleep 0.1
	done
	log "server not healthy after 20s"
	return 2
}

# up NAME [FLAG...] runs start_server, retrying with new ports when one was taken.
up() {
	local attempt rc
	for attempt in 1 2 3; do
		rc=0
		start_server "$@" || rc=$?
		if [[ $rc -eq 0 ]]; then
			log "gows serve ($1) is up: page $base_url/, WebSocket ws://127.0.0.1:$ws_port/acc"
			return 0
		fi
		log "gows serve ($1) did not come up (attempt $attempt); its log:"
		cat "$tmp/$1.log" >&2
		[[ $rc -eq 1 ]] || break
	done
	log "could not start gows serve ($1)"
	exit 1
}

# A server that requires login tokens, sends no enter/exit notices (the page must poll
# the online users) and closes sessions silent for 5 s (the page must keep its session
# alive at that pace), and tokens for users erin and gus in app 101.
auth_secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
auth_heartbeat_ms=5000
GOWS_AUTH_SECRET=$auth_secret up auth --presence-limit 0 --heartbeat-timeout "${auth_heartbeat_ms}ms"
auth_url=$base_url
auth_tokens=
for who in erin gus; do
	auth_tokens+="$(GOWS_AUTH_SECRET=$auth_secret "$tmp/gows" token --user "$who" --app-id 101 --ttl 10m) "
done

up server

status=0
GOWS_BASE_URL=$base_url GOWS_AUTH_BASE_URL=$auth_url GOWS_AUTH_TOKENS=$auth_tokens \
	GOWS_AUTH_HEARTBEAT_MS=$auth_heartbeat_ms CHROMIUM=$chromium \
	node tests/browser/chat.test.mjs || status=$?
GOWS_BASE_URL=$base_url GOWS_WS_URL="ws://127.0.0.1:$ws_port/acc" CHROMIUM=$chromium \
	node tests/browser/origin.test.mjs || status=$?
if [[ $status -ne 0 ]]; then
	log "browser test failed; server logs:"
	cat "$tmp/server.log" "$tmp/auth.log" >&2
fi
exit "$status"
