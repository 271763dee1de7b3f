#!/bin/bash
# Device call: the GPU suite's C++ programs, the hazard scenarios, the Python API test, and
# `xsched list` with a real GPU (the device's UUID and name). Each line is what ctest -L gpu runs.
export PYTHONUNBUFFERED=1
R=$PWD; B=$R/.carry/bin; export LD_LIBRARY_PATH=$B:$LD_LIBRARY_PATH
W=/tmp/w; mkdir -p $W $OUT
cat .carry/build_id; nvidia-smi --query-gpu=name,driver_version,uuid --format=csv,noheader
PY=python3
run() { local name=$1 t=$2; shift 2; local s=$(date +%s); timeout $t "$@" > $W/$name.log 2>&1; echo "$name rc=$? $(( $(date +%s)-s ))s"; }
for sc in mem_free mem_free_host module_load library_load lazy_load runtime_init event_wait capture destroy_stream destroy_context exit_while_gated many_streams; do
  if [ $sc = lazy_load ]; then export CUDA_MODULE_LOADING=LAZY; fi
  run gate_$sc 60 $B/xsched run --level 2 -- $B/gpu_gate_hazards_prog $sc; unset CUDA_MODULE_LOADING
done
grep -h "checks failed\|FAIL" $W/gate_*.log | sort | uniq -c | head
for p in driver_api runtime_api runtime_api_ptds; do
  run $p 150 $PY tests/gpu/compare_runs.py --xsched $B/xsched --workdir $W/$p --timeout 140 --extra-untraced-run --trace-min-count 20000 '^xsched-trace cuLaunch(Cooperative)?Kernel(Ex)?(_ptsz)?\s.*->\s*0\b' -- $B/$( [ $p = runtime_api_ptds ] && echo gpu_runtime_api_prog_ptds || echo gpu_${p}_prog )
  tail -2 $W/$p.log
done
PYTHONPATH=$R/python XSCHED_SCHEDULER=local run python_test5 200 $B/xsched run -- $PY tests/python/gpu/test5_api.py --out $W/python_test5; tail -3 $W/python_test5.log
echo "== list"
$B/xschedd --socket /tmp/xl.sock > $W/xschedd.log 2>&1 & D=$!; sleep 0.5
timeout 60 $B/xsched run --scheduler daemon --socket /tmp/xl.sock -- $PY -c "
import torch,subprocess
x=torch.ones(1,device='cuda'); [x.add_(1) for _ in range(100)]; torch.cuda.synchronize()
for a in (['list'],['list','--json']):
    print(subprocess.run(['$B/xsched']+a+['--socket','/tmp/xl.sock'],capture_output=True,text=True).stdout)
" > $W/list.log 2>&1; echo "list rc=$?"; cat $W/list.log | head -30
kill $D
tar czf $OUT/logs.tgz -C /tmp w
