#!/usr/bin/env bash
# The HIP interposer end to end on the fake HIP runtime: `xsched run
# --platform hip` preloads libxsched_hip.so in front of a program linked with
# the fake (found by XSCHED_REAL_LIBHIP). Ordering with argument copies,
# priority at Level 1 and Level 2, a stream used from a thread on another
# device (the field report's error 709), the trace, implicit ordering with
# the null stream, and threads using streams while others are made and
# destroyed (under ThreadSanitizer in the --linked form).
#   hip_interpose_test.sh XSCHED PROGRAM FAKE_HIP
#   hip_interpose_test.sh --linked PROGRAM FAKE_HIP
# --linked: PROGRAM links libxsched_hip.so ahead of the fake instead of
# having it preloaded, and the settings go in as variables: the form the
# sanitizer builds can run (an instrumented library cannot be preloaded
# ahead of the sanitizer's runtime).
set -u
linked=0
if [ "$1" = --linked ]; then linked=1; shift; xsched=; prog=$1 fake=$2; else xsched=$1 prog=$2 fake=$3; fi
failures=0
check() { if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; failures=$((failures + 1)); fi; }
export XSCHED_REAL_LIBHIP=$fake XSCHED_SCHEDULER=local XSCHED_LOG_LEVEL=warn
# run [--level N] [--window N] [--trace] -- PROGRAM ARGS
run() {
  if [ $linked -eq 0 ]; then "$xsched" run --platform hip "$@"; return; fi
  local vars=(XSCHED_ANNOUNCE=1)
  while [ "$1" != -- ]; do
    case $1 in
      --level) vars+=("XSCHED_LEVEL=$2"); shift 2 ;;
      --window) vars+=("XSCHED_WINDOW=$2"); shift 2 ;;
      --trace) vars+=(XSCHED_TRACE=1); shift ;;
      *) echo "hip_interpose_test: unknown option $1" >&2; return 2 ;;
    esac
  done
  shift
  env "${vars[@]}" "$@"
}

out=$(run -- "$prog" order 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^order ok" <<<"$out"; check "kernels, a fill and a copy in order, each kernel with its arguments" $?
grep -q "HIP device 0, Fake HIP Device 0 (CPU), hip-" <<<"$out"; check "the queue's device is announced" $?

# Level 1: the low stream's window of launched kernels may run on; Level 2: at most the running one.
out=$(run --level 1 --window 4 -- "$prog" priority 2>&1); rc=$?
n=$(sed -n 's/^ran_meanwhile \([0-9]*\).*/\1/p' <<<"$out")
[ $rc -eq 0 ] && [ -n "$n" ] && [ "$n" -le 6 ]; check "Level 1: the urgent stream holds the low one (ran meanwhile: ${n:-?})" $?
out=$(run --level 2 -- "$prog" priority 2>&1); rc=$?
n=$(sed -n 's/^ran_meanwhile \([0-9]*\).*/\1/p' <<<"$out")
[ $rc -eq 0 ] && [ -n "$n" ] && [ "$n" -le 3 ]; check "Level 2: a gate holds what the low stream launched (ran meanwhile: ${n:-?})" $?
out=$(XSCHED_POLICY=none run --level 2 -- "$prog" priority 2>&1); rc=$?
n=$(sed -n 's/^ran_meanwhile \([0-9]*\).*/\1/p' <<<"$out")
[ $rc -eq 0 ] && [ -n "$n" ] && [ "$n" -gt 5 ]; check "without scheduling the low stream runs on (ran meanwhile: ${n:-?})" $?

out=$(FAKE_HIP_DEVICES=2 run -- "$prog" 709 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^709 ok" <<<"$out"; check "a stream of device 1 used from a thread on device 0" $?
grep -q "HIP device 1, Fake HIP Device 1 (CPU)" <<<"$out" && ! grep -q "HIP device 0" <<<"$out"
check "its queue is on the stream's device, not the thread's" $?

out=$(run --trace -- "$prog" trace 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^xsched-trace hipMalloc size=4096 ptr=0x[0-9a-f]* -> 0" <<<"$out" \
  && grep -q "^xsched-trace hipModuleLaunchKernel function=0x[0-9a-f]* stream=(nil)" <<<"$out" \
  && grep -q "^xsched-trace hipFree ptr=0x[0-9a-f]* -> 0" <<<"$out" \
  && grep -q "^xsched-trace summary total calls=" <<<"$out"
check "XSCHED_TRACE: hipMalloc, the launch and hipFree, and the summary" $?

# The null stream after a blocking stream's held work: it is launched then, while the urgent stream still runs.
out=$(run -- "$prog" implicit 2>&1); rc=$?
line=$(grep '^implicit' <<<"$out")
held=$(sed -n 's/^implicit held \([0-9]*\) after.*/\1/p' <<<"$line")
after=$(sed -n 's/^implicit held [0-9]* after \([0-9]*\) busy.*/\1/p' <<<"$line")
[ $rc -eq 0 ] && [ "$held" = 0 ] && [ -n "$after" ] && [ "$after" -ge 10 ] && grep -q "busy 1$" <<<"$line"; st=$?
check "the null stream's work goes after what a blocking stream held (${line:-no line})" $st
[ $st -eq 0 ] || echo "$out"

out=$(run -- "$prog" streams 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "^streams ok" <<<"$out"; st=$?
check "threads at once on streams being made and destroyed, shared ones and the null stream" $st
[ $st -eq 0 ] || echo "$out"

[ $failures -eq 0 ] || { echo "hip_interpose_test: $failures failed"; exit 1; }
