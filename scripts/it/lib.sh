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

# free_port prints a loopback port nothing listens on (checked by connecting to it) and
# no TCP socket uses, not even as the local end of a connection or in TIME_WAIT (on
# Linux, from /proc/net/tcp*): the ports overlap the ephemeral range, and the earlier
# stages leave thousands of closed client connections behind, any of which makes a
# server's bind to its port fail.
used_ports=" "
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 20000))
		[[ $used_ports == *" $p "* ]] && continue
		port_has_socket "$p" && continue
		if ! (exec 9<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			used_ports+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# port_has_socket PORT: succeeds when a TCP socket has PORT as its local port (the second
# column of /proc/net/tcp and tcp6 is ADDR:PORT in hex); fails where those files are missing.
port_has_socket() {
	awk -v port="$(printf ':%04X' "$1")" 'FNR > 1 && substr($2, length($2) - 4) == port { found = 1; exit }
		END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
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
# DIR; sets redis_port and waits until it answers. A port that nothing listens on may
# still be the local end of a connection (the port range covers it), which makes the
# bind fail: then it tries another port, up to five.
start_redis() {
	local dir=$1 pid _
	shift
	for _ in 1 2 3 4 5; do
		redis_port=$(free_port)
		"$@" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" >"$dir/redis.log" 2>&1 &
		pid=$!
		if wait_for redis_up "$pid" "$redis_port" && kill -0 "$pid" 2>/dev/null; then
			pids+=("$pid")
			return
		fi
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		grep -q "Address already in use" "$dir/redis.log" || break
	done
	show_logs "$dir/redis.log"
	die "redis-server did not start"
}

# redis_up PID PORT: succeeds when the redis-server answers on PORT; exits the retries of
# wait_for early (by succeeding) when PID has died, which start_redis then sees.
redis_up() {
	kill -0 "$1" 2>/dev/null || return 0
	redis-cli -p "$2" ping
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

# load_run CONNS CMD...: the set-up of a load run on this machine (scripts/million.sh,
# scripts/floor.sh): CMD runs in a network namespace of its own (run_in_netns), and the
# array batch is the prefix that runs a process under SCHED_BATCH (BATCH=off: empty). A
# message that wakes its receiver then does not preempt the sender, so each process
# handles events in batches instead of one context switch per message.
batch=()
load_run() {
	run_in_netns "$@"
	if [[ ${BATCH:-on} != off ]] && command -v chrt >/dev/null; then
		batch=(chrt --batch 0)
	fi
}

# run_in_netns CONNS CMD...: as root (and unless NETNS=off), runs CMD inside a network
# namespace of its own made for CONNS connections, then exits with CMD's status; does
# nothing when it cannot or when already inside one. The namespace's TCP hash table is
# sized for two sockets per connection (net.ipv4.tcp_child_ehash_entries, read when a
# namespace is created; the host's table has 262,144 buckets, so two million sockets
# would mean chains of eight), scripts/sysctl.sh raises its port and backlog settings,
# and tools that walk the host's socket table (this sandbox's init does, every second)
# do not walk the run's sockets.
run_in_netns() {
	local conns=$1 ns buckets=65536 old status=0
	shift
	[[ ${NETNS:-auto} != off && -z ${GOWS_NETNS:-} && $EUID -eq 0 ]] || return 0
	command -v ip >/dev/null || return 0
	ns=gows-${NAME%.sh}-$$
	while ((buckets < 2 * conns + 65536 && buckets < 16777216)); do buckets=$((buckets * 2)); done
	if old=$(sysctl -n net.ipv4.tcp_child_ehash_entries 2>/dev/null); then
		sysctl -qw net.ipv4.tcp_child_ehash_entries="$buckets"
	fi
	ip netns add "$ns" || die "cannot create network namespace $ns (NETNS=off runs in the host's)"
	[[ -n ${old:-} ]] && sysctl -qw net.ipv4.tcp_child_ehash_entries="$old"
	trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" scripts/sysctl.sh >/dev/null
	say "running in network namespace $ns: $(ip netns exec "$ns" sysctl -n net.ipv4.tcp_ehash_entries) TCP hash buckets"
	GOWS_NETNS=$ns ip netns exec "$ns" "$@" || status=$?
	exit "$status"
}

# with_workdir: makes a temporary directory, tmp, and on exit (or INT/TERM) stops the
# processes the script started, shows the tail of tmp's logs if the script failed, and
# removes tmp, keeping the script's exit status.
with_workdir() {
	tmp=$(mktemp -d)
	trap workdir_cleanup EXIT INT TERM
}
workdir_cleanup() {
	local status=$?
	stop_started
	((status == 0)) || show_logs "$tmp"/*.log
	rm -rf "$tmp"
	exit "$status"
}
