#!/usr/bin/env bash
# The command line as a user meets it: the demo prints its table, bad input
# gives a clear message and exit code 2, bad environment values one warning.
set -u
xsched=$1
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}

out=$("$xsched" demo --seconds 0.3 --json "${TMPDIR:-/tmp}/xsched_cli_test.json" 2>&1); rc=$?
check "demo exits 0" $rc
for row in "high alone" "both, no scheduling" "xsched, level 1" "xsched, level 2" "xsched, level 3"; do
  grep -q "^$row" <<<"$out"; check "demo row '$row'" $?
done
grep -q "CPU reference device" <<<"$out"; check "demo names its device" $?
grep -q '"high_latency_ms": \[[0-9]' "${TMPDIR:-/tmp}/xsched_cli_test.json"; check "demo JSON has samples" $?

out=$("$xsched" demo --seconds nope 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--seconds wants a number" <<<"$out"; check "bad --seconds is explained" $?
out=$("$xsched" frobnicate 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'frobnicate'" <<<"$out"; check "unknown command is explained" $?
"$xsched" version | grep -qE '^xsched [0-9]+\.[0-9]+\.[0-9]+$'; check "version" $?
"$xsched" help | grep -q "demo"; check "help lists demo" $?

out=$(XSCHED_WINDOW=abc XSCHED_BOGUS=1 "$xsched" demo --seconds 0.2 2>&1); rc=$?
check "demo runs with bad environment" $rc
[ "$(grep -c 'XSCHED_WINDOW="abc"' <<<"$out")" -eq 1 ]; check "one warning for a malformed value" $?
[ "$(grep -c 'unknown variable XSCHED_BOGUS' <<<"$out")" -eq 1 ]; check "one warning for an unknown name" $?

# xsched run: options become the program's XSCHED_* variables, the interposer is preloaded.
out=$("$xsched" run 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "no program given" <<<"$out"; check "run without a program is explained" $?
out=$("$xsched" run --priority high -- true 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q -- "--priority 'high' is not valid" <<<"$out"; check "run rejects a bad priority" $?
out=$("$xsched" run --frob -- true 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "unknown option '--frob'" <<<"$out"; check "run rejects an unknown option" $?
out=$("$xsched" run --priority 5 --level 1 --trace -- sh -c 'echo "$XSCHED_PRIORITY $XSCHED_LEVEL $XSCHED_TRACE $LD_PRELOAD"' 2>&1); rc=$?
if grep -q "was not found" <<<"$out"; then
  [ $rc -eq 1 ]; check "run without an interposer says so" $?
else
  [ $rc -eq 0 ] && grep -q "^5 1 1 /.*libxsched_cuda.so" <<<"$out"; check "run sets the variables and preloads the interposer" $?
  out=$("$xsched" run -- /nonexistent/program 2>&1); rc=$?
  [ $rc -eq 127 ] && grep -q "cannot run '/nonexistent/program'" <<<"$out"; check "run of a missing program exits 127" $?
  out=$(env -u CUDA_DEVICE_MAX_CONNECTIONS -u XSCHED_ANNOUNCE "$xsched" run --gated-window 64 -- sh -c 'echo "$XSCHED_GATED_WINDOW $XSCHED_ANNOUNCE $CUDA_DEVICE_MAX_CONNECTIONS"' 2>/dev/null)
  [ "$out" = "64 1 32" ]; check "run sets the Level 2 window, the level announcement and 32 connections" $?
  out=$(CUDA_DEVICE_MAX_CONNECTIONS=4 "$xsched" run --quiet -- sh -c 'echo "$XSCHED_ANNOUNCE $CUDA_DEVICE_MAX_CONNECTIONS"' 2>&1)
  [ "$out" = "0 4" ]; check "run --quiet turns the announcement off and keeps the user's connections" $?
  # A program that never calls CUDA had nothing scheduled: said at its exit, once, by it alone
  # (not by the processes it starts: timeout runs true as its child).
  out=$(env -u XSCHED_ANNOUNCE "$xsched" run -- timeout 60 true 2>&1); rc=$?
  [ $rc -eq 0 ] && [ "$(grep -c "made no CUDA call: nothing of it was scheduled" <<<"$out")" = 1 ]
  check "run says when the program made no CUDA call" $?
  out=$("$xsched" run --quiet -- true 2>&1)
  [ -z "$out" ]; check "run --quiet says nothing of it" $?
  out=$("$xsched" run --gated-window 0 -- true 2>&1); rc=$?
  [ $rc -eq 2 ]; check "run rejects a zero Level 2 window" $?
  out=$("$xsched" run --backpressure 16 -- sh -c 'echo "$XSCHED_BACKPRESSURE"' 2>&1)
  [ "$out" = "16" ]; check "run sets the back-pressure" $?
  out=$("$xsched" run --backpressure -1 -- true 2>&1); rc=$?
  [ $rc -eq 2 ]; check "run rejects a negative back-pressure" $?
fi

out=$("$xsched" run --timeline /tmp/t.%p.json -- sh -c 'echo "$XSCHED_TIMELINE"' 2>&1)
grep -q "^/tmp/t.%p.json$" <<<"$out"; check "run sets the timeline's file" $?
out=$(XSCHED_INTERPOSER=/nonexistent/libxsched_cuda.so "$xsched" run -- true 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "XSCHED_INTERPOSER=/nonexistent/libxsched_cuda.so: No such file" <<<"$out"; check "run names a wrong XSCHED_INTERPOSER" $?

# ---- options as CLI11 parses them: --opt=value, help CMD, one-line errors ----
out=$("$xsched" help 2>&1); rc=$?
for cmd in run demo list top set policy samples version help; do
  [ $rc -eq 0 ] && grep -q "^  $cmd  " <<<"$out"; check "help lists '$cmd'" $?
done
[ "$("$xsched" help set 2>&1)" = "$("$xsched" set --help 2>&1)" ] && "$xsched" help set | grep -q -- "--priority N"
check "help set is set --help" $?
[ "$("$xsched" help run 2>&1)" = "$("$xsched" run --help 2>&1)" ]; check "help run is run --help" $?
"$xsched" help policy | grep -q "^  bandwidth  "; check "help policy lists the policies" $?
out=$("$xsched" help frobnicate 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'frobnicate'" <<<"$out"; check "help of an unknown command is explained" $?
[ "$("$xsched" --version)" = "$("$xsched" version)" ]; check "--version is version" $?
# ranges in the help come from core/hint_limits.h
"$xsched" set --help | grep -q -- "--priority N.*-1000000\.\.1000000"; check "set --help gives the priority's range" $?
"$xsched" set --help | grep -q -- "--deadline-us D.*0 or 100\.\.3600000000"; check "set --help gives the deadline's range" $?

one_line_error() {  # one_line_error NAME TEXT... : the last command printed one line with each TEXT, exit 2
  local name=$1 t ok=0; shift
  [ $rc -eq 2 ] && [ "$(grep -c . <<<"$out")" -eq 1 ] || ok=1
  for t in "$@"; do grep -qF -- "$t" <<<"$out" || ok=1; done
  [ $ok -eq 0 ] || echo "     got (rc $rc): $out"
  check "$name" $ok
}
out=$("$xsched" set --pid 1 --priority 99999999 2>&1); rc=$?
one_line_error "set --priority out of range: one line with the range and a hint" \
  "xsched set: --priority '99999999' is out of range" "-1000000..1000000" "(see 'xsched help set')"
out=$("$xsched" set --pid=1 --share=0 2>&1); rc=$?
one_line_error "set --share=0: one line with the range" "--share '0' is out of range" "1..1000000" "(see 'xsched help set')"
out=$("$xsched" set --pid=1 --deadline-us=50 2>&1); rc=$?
one_line_error "set --deadline-us=50: one line with the range" "--deadline-us '50'" "0 or 100..3600000000"
out=$("$xsched" set --pid 1 --frob 2 2>&1); rc=$?
one_line_error "set --frob: unknown option, one line" "unknown option '--frob'" "(see 'xsched help set')"
out=$("$xsched" set --pid 1 --priority 2>&1); rc=$?
one_line_error "set --priority without a value: one line" "--priority needs a value"
out=$("$xsched" set --priority 3 2>&1); rc=$?
one_line_error "set without a target: one line" "name one program (--pid)"
out=$("$xsched" top --interval=0 2>&1); rc=$?
one_line_error "top --interval=0: one line" "--interval '0' is not valid" "0.05..3600"
out=$("$xsched" list extra 2>&1); rc=$?
one_line_error "list extra: one line" "unexpected argument 'extra'"
out=$("$xsched" list --json=abc 2>&1); rc=$?
one_line_error "list --json=abc: one line" "--json 'abc' is not valid: a switch takes no value" "(see 'xsched help list')"
out=$("$xsched" policy fastest 2>&1); rc=$?
one_line_error "policy fastest: one line naming the policies" "is not one of none, priority" "(see 'xsched help policy')"
out=$("$xsched" run --level=9 -- true 2>&1); rc=$?
one_line_error "run --level=9: one line" "--level '9' is not valid" "auto, 1, 2, 3" "(see 'xsched help run')"
out=$("$xsched" demo --seconds=nope 2>&1); rc=$?
one_line_error "demo --seconds=nope: one line" "--seconds wants a number"
# --opt=value and --opt value reach the daemon's socket alike
out=$("$xsched" set --pid=1 --priority=3 --socket=/nonexistent/xschedd.sock 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "no xschedd at /nonexistent/xschedd.sock" <<<"$out"; check "set --opt=value parses every option" $?
out=$("$xsched" samples --summary --socket /nonexistent/xschedd.sock 2>&1); rc=$?
[ $rc -eq 1 ] && grep -q "no xschedd at /nonexistent/xschedd.sock" <<<"$out"; check "samples --summary --socket PATH" $?
if [ -n "$(XSCHED_INTERPOSER= "$xsched" run --quiet -- true 2>&1 | grep 'was not found')" ]; then
  echo "skip run's --opt=value (no interposer)"
else
  out=$("$xsched" run --priority=5 --level=2 --quiet -- sh -c 'echo "$XSCHED_PRIORITY $XSCHED_LEVEL"' 2>&1)
  [ "$out" = "5 2" ]; check "run --priority=5 --level=2" $?
  out=$("$xsched" run --priority -3 sh -c 'echo "$XSCHED_PRIORITY $*"' sh --priority 7 -- x 2>&1)
  [ "$out" = "-3 --priority 7 -- x" ]; check "run without --: the program from the first word, its arguments untouched" $?
  out=$("$xsched" run --quiet -- sh -c 'echo "$*"' sh --help -- --frob=1 2>&1)
  [ "$out" = "--help -- --frob=1" ]; check "run: everything after -- is the program's" $?
fi

[ $fail -eq 0 ] && echo "cli_test: all passed" || echo "cli_test: failures"
exit $fail
