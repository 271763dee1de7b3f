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
  out=$(env -u CUDA_DEVICE_MAX_CONNECTIONS -u XSCHED_ANNOUNCE "$xsched" run --gated-window 64 -- sh -c 'echo "$XSCHED_GATED_WINDOW $XSCHED_ANNOUNCE $CUDA_DEVICE_MAX_CONNECTIONS"' 2>&1)
  [ "$out" = "64 1 32" ]; check "run sets the Level 2 window, the level announcement and 32 connections" $?
  out=$(CUDA_DEVICE_MAX_CONNECTIONS=4 "$xsched" run --quiet -- sh -c 'echo "$XSCHED_ANNOUNCE $CUDA_DEVICE_MAX_CONNECTIONS"' 2>&1)
  [ "$out" = "0 4" ]; check "run --quiet turns the announcement off and keeps the user's connections" $?
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

[ $fail -eq 0 ] && echo "cli_test: all passed" || echo "cli_test: failures"
exit $fail
