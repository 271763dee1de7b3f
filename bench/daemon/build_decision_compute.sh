#!/bin/sh
# Builds decision_compute against a configured build's static libraries (no
# CMake target: the benchmark reaches into the daemon through its probe).
#   bench/daemon/build_decision_compute.sh [BUILD_DIR] [OUT]
set -e
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build/release}
out=${2:-$build/decision_compute}
cmake --build "$build" --target xsched_daemon
c++ -std=c++20 -O2 -g -DNDEBUG -Wall -Wextra -Werror -I"$root/include" -I"$root/src" \
  "$root/bench/daemon/decision_compute.cpp" -o "$out" \
  "$build/libxsched_daemon.a" "$build/libxsched_sched.a" "$build/libxsched_ipc.a" "$build/libxsched_core.a" -lpthread
echo "$out"
