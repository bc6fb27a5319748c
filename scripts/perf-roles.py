#!/usr/bin/env python3
"""Summarise a system-wide `perf record -a -g` profile of a gows load run by role.

    perf script -i perf.data -F comm,pid,tid,ip,sym > samples.txt
    ps -eo pid,args > ps.txt               # taken while the run was going
    scripts/perf-roles.py samples.txt ps.txt

Every sample is charged to a role (gows nodes, bench workers, redis-server, idle, other),
split into kernel and user time, the kernel time by the system call it was spent in
(connect, write, read, epoll_wait, ...; "softirq" is the loopback receive path run in
the sending process) and the user time by what Go was doing (JSON, the runtime's
monitor, scheduler and garbage collector, everything else). Shares are of all samples,
so the table adds up to the machine's two cores. scripts/million.sh runs it with PROFILE=1.
"""
import re
import collections
import sys

SYSCALLS = [
    ("__x64_sys_connect", "connect"), ("__x64_sys_accept4", "accept"),
    ("__x64_sys_socket", "socket"), ("__x64_sys_close", "close"),
    ("__x64_sys_writev", "write"), ("__x64_sys_write", "write"),
    ("__x64_sys_read", "read"), ("__x64_sys_epoll_pwait", "epoll_wait"),
    ("__x64_sys_epoll_wait", "epoll_wait"), ("__x64_sys_epoll_ctl", "epoll_ctl"),
    ("__x64_sys_futex", "futex (wake-ups)"), ("__x64_sys_nanosleep", "nanosleep (Go's sysmon)"),
    ("__x64_sys_setsockopt", "setsockopt"), ("__x64_sys_getsockopt", "getsockopt"),
    ("__x64_sys_bind", "bind"),
    # write(2) and read(2) are often inlined into do_syscall_64; seq_read is a /proc file
    # (the memory figures the nodes report), sock_*_iter a socket.
    ("seq_read", "read /proc (memory figures)"),
    ("ksys_write", "write"), ("ksys_read", "read"),
]


GOWS = re.compile(r"(?:^|[/ ])gows[\w.-]* (serve|bench)( --nodes)?")


def role_of(args):
    m = GOWS.search(args)  # the binary may be renamed (gows-dev, gows.test)
    if m:
        return "launcher" if m.group(2) else "gows nodes" if m.group(1) == "serve" else "bench workers"
    if "redis-server" in args:
        return "redis-server"
    return None


def user_kind(role, stack):
    if role not in ("gows nodes", "bench workers", "launcher"):
        return "all"
    s = " ".join(stack)
    if "runtime.sysmon" in s:
        return "Go runtime: sysmon"
    if any(k in s for k in ("runtime.gcBgMarkWorker", "runtime.gcDrain", "runtime.markroot", "gcAssist")):
        return "Go runtime: GC"
    if any(k in s for k in ("runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.mcall")):
        return "Go runtime: scheduler"
    if "encoding/json" in s:
        return "JSON"
    return "gows code, other"


def kernel_kind(stack):
    for sym, name in SYSCALLS:
        if any(sym in frame for frame in stack):
            return name
    if any("handle_softirqs" in f for f in stack):
        return "softirq"
    return "other kernel"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    roles = {}
    with open(sys.argv[2]) as f:
        for line in f:
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[0].isdigit():
                r = role_of(parts[1])
                if r:
                    roles[parts[0]] = r
    total = 0
    by_role = collections.Counter()
    split = collections.Counter()
    detail = collections.Counter()

    def charge(head, stack):
        nonlocal total
        total += 1
        comm = head.split()[0]
        pid = head.split()[1].split("/")[0]
        role = roles.get(pid, "idle" if comm == "swapper" else "other: " + comm)
        by_role[role] += 1
        if not stack:
            return
        kernel = stack[0].split()[0].startswith("ffffffff")
        split[(role, kernel)] += 1
        detail[(role, "kernel: " + kernel_kind(stack) if kernel else "user: " + user_kind(role, stack))] += 1

    head, stack = None, []
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip():
                if head:
                    charge(head, stack)
                head, stack = None, []
            elif head is None:
                head = line
            else:
                stack.append(line.strip())
    if head:
        charge(head, stack)
    if total == 0:
        sys.exit("no samples")

    def pct(n):
        return f"{100 * n / total:5.1f} %"

    print(f"{total} samples")
    print(f"{'role':30} {'all':>8} {'kernel':>8} {'user':>8}")
    for role, n in by_role.most_common():
        if n * 200 < total:
            continue
        print(f"{role:30} {pct(n):>8} {pct(split[(role, True)]):>8} {pct(split[(role, False)]):>8}")
    print()
    print("where the time went (shares of all samples, at least 0.5 %)")
    for (role, what), n in detail.most_common():
        if n * 200 < total:
            break
        print(f"  {role:16} {what:40} {pct(n)}")


if __name__ == "__main__":
    main()
