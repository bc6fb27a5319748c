#!/usr/bin/env bash
# Kernel and limit settings for a machine that holds a million WebSocket connections
# (gows serve and gows bench on one host means two million sockets).
#
#   scripts/sysctl.sh --dry-run     show each setting, its current value, and what would change
#   sudo scripts/sysctl.sh          apply the changes to the running kernel
#   sudo scripts/sysctl.sh --persist  also write /etc/sysctl.d/90-gows.conf and
#                                   /etc/security/limits.d/90-gows.conf for the next boot/login
#
# Idempotent: a setting that is already good enough is left alone, and limits are only
# ever raised, never lowered. Every line says why the setting matters. Tests never run
# this script; docs/bench.md says when you need it.
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

dry_run=0
persist=0
for arg in "$@"; do
	case "$arg" in
	--dry-run | -n) dry_run=1 ;;
	--persist) persist=1 ;;
	--help | -h)
		usage
		exit 0
		;;
	*)
		echo "sysctl.sh: unknown argument $arg" >&2
		usage >&2
		exit 2
		;;
	esac
done

if [[ $dry_run -eq 0 && $EUID -ne 0 ]]; then
	echo "sysctl.sh: changing kernel settings needs root; run with sudo, or use --dry-run" >&2
	exit 1
fi

changed=0
persist_lines=()

# note KEY VALUE: remember the setting for --persist.
note() { persist_lines+=("$1 = $2"); }

# show VERB KEY CURRENT WANT WHY
show() { printf '%-5s %-36s %-24s -> %-24s %s\n' "$1" "$2" "$3" "$4" "$5"; }

# set_value KEY WANT WHY: make KEY exactly WANT (whitespace-normalised).
set_value() {
	local key=$1 want=$2 why=$3 cur
	if ! cur=$(sysctl -n "$key" 2>/dev/null); then
		show skip "$key" "(absent)" "$want" "$why"
		return
	fi
	cur=$(echo "$cur" | tr -s '[:space:]' ' ' | sed 's/ $//')
	note "$key" "$want"
	if [[ "$cur" == "$want" ]]; then
		show ok "$key" "$cur" "$want" "$why"
		return
	fi
	show set "$key" "$cur" "$want" "$why"
	changed=$((changed + 1))
	if [[ $dry_run -eq 0 ]]; then
		sysctl -q -w "$key=$want"
	fi
}

# raise_value KEY WANT WHY: make a single-number KEY at least WANT.
raise_value() {
	local key=$1 want=$2 why=$3 cur
	if ! cur=$(sysctl -n "$key" 2>/dev/null); then
		show skip "$key" "(absent)" "$want" "$why"
		return
	fi
	if ((cur >= want)); then
		note "$key" "$cur"
		show ok "$key" "$cur" "$cur" "$why"
		return
	fi
	set_value "$key" "$want" "$why"
}

# raise_triple KEY A B C WHY: make each of a three-number KEY at least A, B, C.
raise_triple() {
	local key=$1 why=$5 cur a b c
	if ! cur=$(sysctl -n "$key" 2>/dev/null); then
		show skip "$key" "(absent)" "$2 $3 $4" "$why"
		return
	fi
	read -r a b c <<<"$cur"
	set_value "$key" "$((a > $2 ? a : $2)) $((b > $3 ? b : $3)) $((c > $4 ? c : $4))" "$why"
}

mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
pages=$((mem_kib / 4)) # tcp_mem counts 4 KiB pages

echo "== kernel settings (current -> wanted)"
# Files: every connection is a descriptor on each side.
raise_value fs.file-max 4194304 "system-wide open files: 1M client + 1M server sockets, plus headroom"
raise_value fs.nr_open 2097152 "ceiling for a process's RLIMIT_NOFILE; one gows node may then hold ~2M descriptors"
# Accepting: bursts of tens of thousands of connects per second.
raise_value net.core.somaxconn 65535 "accept queue cap; gows listens with a backlog of 4096 and the kernel cuts it to this"
raise_value net.ipv4.tcp_max_syn_backlog 65535 "half-open connections queued during a fast ramp before SYN cookies kick in"
raise_value net.core.netdev_max_backlog 65536 "packets queued per CPU before the stack drops them (loopback bursts)"
# Ports: one (source address, target) pair holds at most one port range of connections.
set_value net.ipv4.ip_local_port_range "1024 65535" "64,511 ports per source address and target instead of 28,232"
# tcp_tw_reuse is a mode, not a limit: 0 off, 1 for all outgoing connections, 2 (the
# kernel's default) for loopback only. Bench machines that reach servers over the network
# (and --close graceful, which leaves TIME_WAIT behind) need 1.
set_value net.ipv4.tcp_tw_reuse 1 "new outgoing connections to any host may reuse TIME_WAIT ports (2: loopback only)"
# Memory: socket buffers of a million connections are kernel memory, not process RSS.
raise_triple net.ipv4.tcp_mem $((pages / 16)) $((pages / 8)) $((pages / 4)) \
	"TCP buffer memory in pages (low, pressure, max: 1/16, 1/8, 1/4 of RAM) so idle sockets are not squeezed"
raise_value net.ipv4.tcp_max_orphans 1048576 "sockets closed by the app but not yet finished; a mass close creates many"
# Lookups: every packet finds its socket in the established-connections hash table, whose
# size is fixed when the kernel boots (or when a network namespace is created).
if cur=$(sysctl -n net.ipv4.tcp_ehash_entries 2>/dev/null); then
	show info net.ipv4.tcp_ehash_entries "$cur" ">= 2097152" \
		"TCP hash buckets (read-only): set thash_entries=2097152 on the kernel command line; a new netns takes net.ipv4.tcp_child_ehash_entries"
fi
if [[ -e /proc/sys/net/netfilter/nf_conntrack_max ]]; then
	raise_value net.netfilter.nf_conntrack_max 2097152 "connection tracking table (loaded here): every connection has an entry"
fi

echo
echo "== open-file limits (per process)"
printf 'ulimit -n of this shell: soft %s, hard %s\n' "$(ulimit -Sn)" "$(ulimit -Hn)"
echo "gows serve and gows bench each need about one descriptor per connection they hold; bench"
echo "runs several worker processes when its own limit is too low, but a node cannot. Raise it in"
echo "the shell that starts them:  ulimit -n 1048576   (the hard limit must allow it)."
echo "Under systemd, set LimitNOFILE in the unit instead (deploy/systemd/gows.service sets 1100000)."

if [[ $persist -eq 1 ]]; then
	echo
	echo "== persisting"
	conf=/etc/sysctl.d/90-gows.conf
	want=$(printf '# Written by gows scripts/sysctl.sh: settings for a million connections.\n'; printf '%s\n' "${persist_lines[@]}")
	if [[ -f $conf && "$(cat "$conf")" == "$want" ]]; then
		echo "ok    $conf is up to date"
	elif [[ $dry_run -eq 1 ]]; then
		echo "would write $conf"
	else
		printf '%s\n' "$want" >"$conf"
		echo "wrote $conf"
	fi
	limits=/etc/security/limits.d/90-gows.conf
	want=$(printf '# Written by gows scripts/sysctl.sh.\n* soft nofile 1048576\n* hard nofile 1048576\nroot soft nofile 1048576\nroot hard nofile 1048576')
	if [[ -f $limits && "$(cat "$limits")" == "$want" ]]; then
		echo "ok    $limits is up to date"
	elif [[ $dry_run -eq 1 ]]; then
		echo "would write $limits (new logins get nofile 1048576)"
	else
		printf '%s\n' "$want" >"$limits"
		echo "wrote $limits (new logins get nofile 1048576)"
	fi
fi

echo
if [[ $dry_run -eq 1 ]]; then
	echo "dry run: $changed setting(s) would change"
else
	echo "$changed setting(s) changed"
fi
