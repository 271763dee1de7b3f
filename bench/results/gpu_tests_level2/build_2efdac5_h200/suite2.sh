#!/bin/bash
# Device call: the GPU suite's model programs (the field report's 14 models, Test 5 in threads),
# then Test 5 in one process with reserves of 8, 16, 32 and 64 SMs side by side.
export PYTHONUNBUFFERED=1
R=$PWD; B=$R/.carry/bin; export LD_LIBRARY_PATH=$B:$LD_LIBRARY_PATH
W=/tmp/w; mkdir -p $W $OUT/priority
cat .carry/build_id; nvidia-smi --query-gpu=name,driver_version,uuid --format=csv,noheader
PY=python3; M='^xsched-trace cuLaunch(Cooperative)?Kernel(Ex)?(_ptsz)?\s.*->\s*0\b'
run() { local name=$1 t=$2; shift 2; local s=$(date +%s); timeout $t "$@" > $W/$name.log 2>&1; echo "$name rc=$? $(( $(date +%s)-s ))s"; }
run model_suite 200 $PY tests/gpu/compare_runs.py --xsched $B/xsched --workdir $W/model_suite --timeout 190 --native-arg=--count-kernels --ignore kernel_counts.json --trace-min-count 1000 "$M" --trace-min-from-native kernel_counts.json total "$M" -- $PY tests/gpu/model_suite.py
tail -3 $W/model_suite.log
run test5 200 $PY tests/gpu/compare_runs.py --xsched $B/xsched --workdir $W/test5 --timeout 190 --trace-min-count 1000 "$M" -- $PY tests/gpu/test5_threads.py
tail -3 $W/test5.log
tar czf $OUT/logs.tgz -C /tmp w
run priority 300 $PY bench/priority/priority.py --xsched $B/xsched --out $OUT/priority --deployments inprocess --variants default,reserve,reserve16,reserve32,reserve64 --seconds 8 --rounds 1
tail -12 $W/priority.log
tar czf $OUT/logs.tgz -C /tmp w
