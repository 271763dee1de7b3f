#!/bin/sh
# A stand-in for nvidia-cuda-mps-control in the tests (XSCHED_MPS_CONTROL):
# "-d" makes the control pipe in CUDA_MPS_PIPE_DIRECTORY, "quit" on stdin
# removes it; each call is logged to CUDA_MPS_LOG_DIRECTORY/control.log.
log="$CUDA_MPS_LOG_DIRECTORY/control.log"
if [ "$1" = "-d" ]; then
  [ -n "$FAKE_MPS_FAIL" ] && { echo "start refused" >> "$log"; exit 1; }
  mkfifo "$CUDA_MPS_PIPE_DIRECTORY/control" || exit 1
  echo "started pipe=$CUDA_MPS_PIPE_DIRECTORY" >> "$log"
  exit 0
fi
read -r cmd
echo "$cmd" >> "$log"
[ "$cmd" = quit ] && rm -f "$CUDA_MPS_PIPE_DIRECTORY/control"
exit 0
