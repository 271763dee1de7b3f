#!/usr/bin/env bash
# The command line against a running xschedd and a registered program: `set`
# says what it changed (old -> new, text and JSON), `list` shows the full
# command line and the rate of completed commands, a process name that is not
# UTF-8 still gives valid JSON, `samples --summary` summarises the decision
# latencies, and xschedd's log has a time on each line and old -> new values.
# No timing is measured: each wait polls for up to 20 s.
#
#   cli_daemon_test.sh XSCHEDD XSCHED DAEMON_CLIENT_PROG
set -u
xschedd=$1 xsched=$2 client=$3
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsched-cli-daemon-test-XXXXXX") || exit 1
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/xschedd.sock
export XSCHED_SCHEDULER=daemon XSCHED_SOCKET=$sock
json_ok() { python3 -c 'import json,sys; json.load(sys.stdin)'; }
# Polls (every 0.1 s, up to 20 s) until the python expression on the list's JSON `j` holds.
wait_list() {
  local i
  for i in $(seq 200); do
    "$xsched" list --json --socket "$sock" 2>/dev/null | python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($1) else 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

"$xschedd" --socket "$sock" --log-level info 2>"$tmp/xschedd.log" & pids+=($!)
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ]; check "xschedd starts" $?

# A low program whose name (PR_SET_NAME) is not UTF-8: bytes ff fe.
name=$'low\xff\xfeprog'
"$client" --role low --kernel-us 1000 --seconds 60 --name "$name" --queues 1 2>"$tmp/low.log" & low=$!; pids+=($low)
wait_list "any(q['pid'] == $low for q in j['queues'])"; check "the program registers a queue" $?

# ---- list: JSON stays valid, the full command line, the rate ----
json=$("$xsched" list --json --socket "$sock")
json_ok <<<"$json"; check "list --json is valid JSON with a name that is not UTF-8" $?
python3 -c '
import json, sys
j = json.loads(sys.argv[1]); pid = int(sys.argv[2])
p = [p for p in j["processes"] if p["pid"] == pid][0]
assert p["name"] == "low\ufffd\ufffdprog", p["name"]
assert "--role low --kernel-us 1000 --seconds 60" in p["cmdline"], p["cmdline"]
assert isinstance(p["completed_per_s"], (int, float)) and "registered_ns" in p
q = [q for q in j["queues"] if q["pid"] == pid][0]
assert isinstance(q["completed_per_s"], (int, float)) and q["priority"] == 0 and q["share"] == 1
' "$json" "$low"
check "list --json: the name with U+FFFD, the command line, completed_per_s" $?
wait_list "[q for q in j['queues'] if q['pid'] == $low][0]['completed_per_s'] > 0"
check "list --json: the program's completed_per_s grows above 0" $?
table=$("$xsched" list --socket "$sock")
grep -q "DONE/S" <<<"$table" && grep -qE "^ *$low .*$client --role low --kernel-us 1000 --seconds 60" <<<"$table"
check "list shows DONE/S and the full command line" $?
python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' <<<"$table"; check "list's table is UTF-8" $?

# The bash completion offers the registered pids for --pid (from `xsched list --json`, XSCHED_SOCKET's daemon).
out=$(PATH=$(dirname "$xsched"):$PATH bash -c 'source "$1" && COMP_WORDS=(xsched set --pid "") COMP_CWORD=3 &&
      _xsched && echo "${COMPREPLY[*]}"' sh "$(dirname "$0")/../dist/completion/xsched.bash" 2>&1)
[ "$out" = "$low" ]; check "completion: 'xsched set --pid <TAB>' -> $low ($out)" $?

# ---- set: old -> new ----
out=$("$xsched" set --pid "$low" --priority 5 --share 3 --socket "$sock" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -qE "^pid $low \(low.*prog\): priority 0 -> 5, share 1 -> 3$" <<<"$out" && [ "$(grep -c . <<<"$out")" -eq 1 ]
check "set prints 'pid $low (name): priority 0 -> 5, share 1 -> 3' ($out)" $?
wait_list "[q for q in j['queues'] if q['pid'] == $low][0]['priority'] == 5"; check "the change reaches the queue" $?
queue=$("$xsched" list --json --socket "$sock" | python3 -c "import json,sys; print([q['queue'] for q in json.load(sys.stdin)['queues'] if q['pid'] == $low][0])")
out=$("$xsched" set --queue="$queue" --priority=7 --json --socket="$sock" 2>&1); rc=$?
[ $rc -eq 0 ] && python3 -c '
import json, sys
j = json.loads(sys.argv[1])
c = j["changed"]
assert len(c) == 1 and c[0]["pid"] == int(sys.argv[2]) and c[0]["queue"] == int(sys.argv[3]), c
assert c[0]["priority"] == {"old": 5, "new": 7} and "share" not in c[0], c
' "$out" "$low" "$queue"
check "set --json: {\"changed\":[{... \"priority\":{\"old\":5,\"new\":7}}]} ($out)" $?
grep -qE "uid [0-9]+ changed pid $low: priority 0 -> 5, share 1 -> 3$" "$tmp/xschedd.log"
check "xschedd logs old -> new for a pid" $?
grep -qE "uid [0-9]+ changed queue $queue of pid $low: priority 5 -> 7$" "$tmp/xschedd.log"
check "xschedd logs old -> new for a queue" $?

# ---- policy: xschedd logs old -> new ----
[ "$("$xsched" policy bandwidth --socket "$sock")" = bandwidth ]; check "policy bandwidth" $?
grep -qE "switched the policy: priority -> bandwidth$" "$tmp/xschedd.log"; check "xschedd logs the policy's old -> new" $?
"$xsched" policy priority --socket "$sock" >/dev/null

# ---- every line of the log starts with a UTC time ----
[ -s "$tmp/xschedd.log" ] && ! grep -vqE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z xschedd: ' "$tmp/xschedd.log"
check "each line of xschedd's log starts with a time" $?

# ---- samples --summary: an urgent program makes the daemon hold the low one ----
XSCHED_PRIORITY=10 "$client" --role high --kernel-us 1000 --period-us 20000 --seconds 60 2>"$tmp/high.log" & pids+=($!)
for i in $(seq 200); do
  n=$("$xsched" samples --summary --json --socket "$sock" 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["all"]["count"])' 2>/dev/null)
  [ "${n:-0}" -ge 4 ] && break
  sleep 0.1
done
[ "${n:-0}" -ge 4 ]; check "the daemon collects decision latencies (${n:-0})" $?
out=$("$xsched" samples --summary --json --socket "$sock")
python3 -c '
import json, sys
s = json.loads(sys.argv[1])["summary"]
a = s["all"]
assert a["count"] == s["suspend"]["count"] + s["resume"]["count"], s
assert 0 <= a["p50_ns"] <= a["p99_ns"] <= a["max_ns"], a
for k in ("suspend", "resume"):
    if s[k]["count"]:
        assert s[k]["max_ns"] <= a["max_ns"], s
' "$out"
check "samples --summary --json: counts add up, p50 <= p99 <= max ($out)" $?
out=$("$xsched" samples --summary --socket "$sock")
[ "$(head -1 <<<"$out" | tr -s ' ')" = "KIND COUNT P50_US P99_US MAX_US" ] &&
  grep -qE "^all +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$" <<<"$out" && grep -qE "^suspend +[0-9]+ " <<<"$out" &&
  grep -qE "^resume +[0-9]+ " <<<"$out"
check "samples --summary: a row for all, suspend and resume" $?
list=$("$xsched" samples --json --socket "$sock")
json_ok <<<"$list"; check "samples --json is valid JSON" $?

[ $fail -eq 0 ] && echo "cli_daemon_test: all passed" || echo "cli_daemon_test: failures"
exit $fail
