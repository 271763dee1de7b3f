#!/bin/bash
# xschedd --mps and xsched run --mps, against a stand-in control program:
# the control daemon starts beside the socket and quits with xschedd, a
# program under xsched run becomes its client (unless it has its own MPS,
# schedules itself or says --mps off), and what cannot work says why.
#   mps_test.sh XSCHED XSCHEDD FAKE_CONTROL
XSCHED=$1 XSCHEDD=$2 FAKE=$3
fails=0
check() { if [ "$1" = 0 ]; then echo "ok $2"; else echo "FAIL $2"; fails=$((fails + 1)); fi; }
# A folder every uid can enter (xschedd refuses a socket folder others can write).
work=$(mktemp -d /tmp/xsched-mps-test.XXXXXX)
trap 'kill $daemon 2>/dev/null; rm -rf "$work"' EXIT
sock=$work/run/xschedd.sock
export XSCHED_MPS_CONTROL=$FAKE XSCHED_SOCKET=$sock
unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY CUDA_MPS_ACTIVE_THREAD_PERCENTAGE XSCHED_SCHEDULER

"$XSCHEDD" --socket "$sock" --mps --config /dev/null > "$work/d.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && [ -p "$work/run/mps/control" ] && break; sleep 0.05; done
[ -p "$work/run/mps/control" ]; check $? "xschedd --mps started the control daemon beside its socket"
grep -q "started pipe=$work/run/mps" "$work/run/mps-log/control.log" 2>/dev/null
check $? "the control daemon was given the folders in its environment"

got=$("$XSCHED" run -- sh -c 'echo "$CUDA_MPS_PIPE_DIRECTORY|$CUDA_MPS_LOG_DIRECTORY"' 2>/dev/null)
[ "$got" = "$work/run/mps|$work/run/mps-log" ]; check $? "xsched run makes the program a client (got '$got')"
got=$("$XSCHED" run --mps on --mps-sm-percent 90 -- sh -c 'echo "$CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"' 2>/dev/null)
[ "$got" = 90 ]; check $? "--mps-sm-percent sets CUDA_MPS_ACTIVE_THREAD_PERCENTAGE (got '$got')"
got=$("$XSCHED" run --mps off -- sh -c 'echo "[$CUDA_MPS_PIPE_DIRECTORY]"' 2>/dev/null)
[ "$got" = "[]" ]; check $? "--mps off leaves the program out (got '$got')"
got=$(CUDA_MPS_PIPE_DIRECTORY=/own "$XSCHED" run -- sh -c 'echo "$CUDA_MPS_PIPE_DIRECTORY"' 2>/dev/null)
[ "$got" = /own ]; check $? "the user's own MPS is kept (got '$got')"
got=$("$XSCHED" run --scheduler local -- sh -c 'echo "[$CUDA_MPS_PIPE_DIRECTORY]"' 2>/dev/null)
[ "$got" = "[]" ]; check $? "a program that schedules itself is left out (got '$got')"

kill -TERM $daemon; wait $daemon
rc=$?
[ $rc = 0 ]; check $? "xschedd stopped (exit $rc)"
[ ! -e "$work/run/mps/control" ] && grep -q '^quit$' "$work/run/mps-log/control.log"
check $? "xschedd asked the control daemon to quit"

out=$("$XSCHED" run --mps on -- true 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "runs no MPS control daemon"
check $? "--mps on without one is an error that says so (exit $rc: $out)"
got=$("$XSCHED" run -- sh -c 'echo "[$CUDA_MPS_PIPE_DIRECTORY]"' 2>/dev/null)
[ "$got" = "[]" ]; check $? "--mps auto without one changes nothing (got '$got')"

# A control daemon left running (by an xschedd that did not stop it) is joined, and stopped at exit.
mkdir -p "$work/run/mps" && CUDA_MPS_PIPE_DIRECTORY=$work/run/mps CUDA_MPS_LOG_DIRECTORY=$work/run/mps-log "$FAKE" -d
"$XSCHEDD" --socket "$sock" --mps --config /dev/null > "$work/d2.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do grep -q "joined the control daemon" "$work/d2.log" && break; sleep 0.05; done
grep -q "joined the control daemon already running at $work/run/mps" "$work/d2.log"
check $? "a control daemon already running there is joined"
kill -TERM $daemon; wait $daemon
[ ! -e "$work/run/mps/control" ]; check $? "and asked to quit at exit"

out=$(XSCHED_MPS_CONTROL=/nonexistent "$XSCHEDD" --socket "$sock" --mps --config /dev/null 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "XSCHED_MPS_CONTROL=/nonexistent is not an executable program"
check $? "a missing control program is an error that names it (exit $rc)"
out=$(XSCHED_MPS_CONTROL= PATH=/nonexistent "$XSCHEDD" --socket "$sock" --mps --config /dev/null 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "cannot run nvidia-cuda-mps-control (not on PATH?"
check $? "no control program on PATH is an error that says so (exit $rc)"
out=$(FAKE_MPS_FAIL=1 "$XSCHEDD" --socket "$sock" --mps --config /dev/null 2>&1)
rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "failed (exit 1); its log is in $work/run/mps-log"
check $? "a control daemon that does not start is an error that points to its log (exit $rc: $out)"

[ $fails = 0 ] && echo "mps_test: all passed" || { echo "mps_test: $fails failed"; exit 1; }
