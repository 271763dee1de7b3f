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

[ $fail -eq 0 ] && echo "cli_test: all passed" || echo "cli_test: failures"
exit $fail
