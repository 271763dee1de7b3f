#!/usr/bin/env bash
# What a PID namespace (a container's, a pod's) does to xschedd's view of a
# process, as docs/containers.md says: SO_PEERCRED gives the daemon the peer's
# PID translated into the daemon's own namespace. A daemon in the host's
# namespace (a pod with hostPID) sees a containerised program by its host PID
# and reads its name in /proc; a daemon in a namespace of its own sees
# programs outside it as pid 0, nameless, and `xsched set --pid` cannot reach
# them (--queue can). Skipped (77) where PID namespaces cannot be made (not
# root, or a container without CAP_SYS_ADMIN).
#
#   pidns_test.sh XSCHEDD XSCHED DAEMON_CLIENT_PROG
set -u
xschedd=$1 xsched=$2 client=$3
if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
  echo "skipped: cannot make a PID namespace here (unshare --pid needs root and CAP_SYS_ADMIN)"
  exit 77
fi
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsched-pidns-test-XXXXXX") || exit 1
pids=() ns_pids=()
# unshare --fork ignores SIGTERM while it waits for its child: it is killed,
# and --kill-child takes the child (the namespace's first process) with it.
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${ns_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  pids=() ns_pids=()
}
cleanup() {
  stop_all
  rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/run/xschedd.sock
export XSCHED_SCHEDULER=daemon XSCHED_SOCKET=$sock

# The registered processes as `xsched list --json` gives them: "pid name" per line.
registered() {  # registered COUNT: waits (up to 10 s) for COUNT processes, prints them
  local out i
  for i in $(seq 100); do
    out=$("$xsched" list --json --socket "$sock" 2>/dev/null |
          python3 -c 'import json,sys; [print(p["pid"], p["name"] or "-") for p in json.load(sys.stdin)["processes"]]' 2>/dev/null)
    [ "$(grep -c . <<<"$out")" -ge "$1" ] && break
    sleep 0.1
  done
  echo "$out"
}
wait_socket() { for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.05; done; return 1; }

# ---- the daemon in the host's namespace, the program in a namespace of its own ----
"$xschedd" --socket "$sock" 2>"$tmp/a.log" & pids+=($!)
wait_socket; check "xschedd starts" $?
unshare --pid --fork --kill-child --mount-proc sh -c 'echo $$ >"$1"; exec "$2" --role low --seconds 4 --name inpidns' sh \
  "$tmp/inner_pid" "$client" 2>"$tmp/inner.log" & ns_pids+=($!)
out=$(registered 1)
host_pid=$(pgrep -x inpidns | head -1)  # its name (PR_SET_NAME), in the host's /proc
echo "     the program sees itself as pid $(cat "$tmp/inner_pid"); host pid $host_pid; the daemon lists: $out"
[ "$(cat "$tmp/inner_pid")" = 1 ]; check "the program is pid 1 in its namespace" $?
[ "$out" = "$host_pid inpidns" ]; check "a daemon in the parent namespace sees the host PID and the name" $?
"$xsched" set --pid "$host_pid" --priority 3 --socket "$sock" >/dev/null 2>&1; check "xsched set --pid <host pid> reaches it" $?
! "$xsched" set --pid 1 --priority 3 --socket "$sock" >/dev/null 2>&1; check "its own pid (1) names no one to the daemon" $?
stop_all

# ---- the daemon in a namespace of its own, two programs outside it ----
rm -rf "$tmp/run"
unshare --pid --fork --kill-child sh -c 'exec "$1" --socket "$2"' sh "$xschedd" "$sock" 2>"$tmp/b.log" & ns_pids+=($!)
wait_socket; check "xschedd starts in a PID namespace" $?
"$client" --role low --seconds 4 --name outside1 2>"$tmp/outside1.log" & pids+=($!)
"$client" --role low --seconds 4 --name outside2 2>"$tmp/outside2.log" & pids+=($!)
out=$(registered 2)
echo "     the daemon lists: $(tr '\n' ';' <<<"$out")"
[ "$(awk '$1 == 0 && ($2 == "-" || $2 == "?")' <<<"$out" | wc -l)" = 2 ]
check "a daemon in its own namespace sees both as pid 0, without a name" $?
grep -q "registered pid 0" "$tmp/b.log"; check "its log says pid 0" $?
! "$xsched" set --pid 0 --priority 3 --socket "$sock" >/dev/null 2>&1; check "xsched set --pid cannot name them" $?
queue=$("$xsched" list --json --socket "$sock" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queues"][0]["queue"])' 2>&1)
"$xsched" set --queue "$queue" --priority 3 --socket "$sock" >/dev/null 2>&1; check "xsched set --queue reaches one of them (queue $queue)" $?

exit $fail
