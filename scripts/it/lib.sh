# Shared helpers of the integration scripts (sourced, not run: this file is not
# executable, so scripts/test.sh does not run it). The sourcing script sets NAME first.

is_ci() {
	case "${CI:-}" in
	"" | 0 | false | FALSE | no) return 1 ;;
	*) return 0 ;;
	esac
}

say() { printf '%s: %s\n' "$NAME" "$*"; }
die() {
	printf '%s: FAIL: %s\n' "$NAME" "$*" >&2
	exit 1
}

# need CMD...: skips the script (exit 0) when a tool is missing, unless CI is set.
need() {
	local cmd
	for cmd in "$@"; do
		if ! command -v "$cmd" >/dev/null; then
			is_ci && die "$cmd is missing and CI is set"
			say "skipped: $cmd is missing"
			exit 0
		fi
	done
}

# free_port prints a loopback port nothing listens on (checked by connecting to it).
used_ports=" "
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 20000))
		[[ $used_ports == *" $p "* ]] && continue
		if ! (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_for CMD...: retries a command for up to 20 seconds.
wait_for() {
	for _ in $(seq 200); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# start_redis DIR [CMD...]: starts a throwaway redis-server (no persistence) on a free
# loopback port, run through CMD if given (e.g. nice -n -10), with its files and log in
# DIR; sets redis_port and waits until it answers.
start_redis() {
	local dir=$1
	shift
	redis_port=$(free_port)
	"$@" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
	pids+=($!)
	wait_for redis-cli -p "$redis_port" ping || die "redis-server did not start"
}

# pids are the processes the script started (append with pids+=($!)); stop_started stops
# them newest first with the given signal (default TERM), waiting for each, so that
# servers stop before the stores they use.
pids=()
stop_started() {
	local sig=${1:-TERM} i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -"$sig" "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
}

# show_logs prints the tail of each file given (the logs of a failed run) to stderr.
show_logs() {
	local f
	for f in "$@"; do
		[[ -f $f ]] && { printf '\n--- %s\n' "$f"; tail -n 30 "$f"; } >&2
	done
	return 0
}
