# The preview's scenario with Level 2 beside Level 1 and the native baselines (binaries in .carry/bin).
export LD_LIBRARY_PATH=$PWD/.carry/bin:$LD_LIBRARY_PATH
for i in 1 2; do
python3 bench/results/priority_preview/prio_threads.py 0 native-noprio
python3 bench/results/priority_preview/prio_threads.py -1 native-streamprio
.carry/bin/xsched run --quiet --level 1 -- python3 bench/results/priority_preview/prio_threads.py -1 xsched-L1-w8
.carry/bin/xsched run --quiet --level 2 -- python3 bench/results/priority_preview/prio_threads.py -1 xsched-L2
done
