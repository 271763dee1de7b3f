#!/usr/bin/env bash
# The Python package's GPU test, on a machine with a GPU and PyTorch: the field report's
# Test 5 written with the package's API (test5_api.py), under `xsched run`.
#
#   tests/python/gpu/run_gpu_tests.sh [BUILD_DIR] [test5_api.py options...]
#
# BUILD_DIR: a build tree holding xsched, libxsched.so and the interposer (default:
# build/release). The package is used from python/ (PYTHONPATH), so nothing needs
# installing. Environment: PYTHON (default python3, the one with torch and torchvision),
# OUT (result folder, default /tmp/xsched-python-gpu), XSCHED_RUN_ARGS (extra `xsched run`
# options, e.g. "--level 1"). Exit code: the test's (0 pass, 1 a check failed, 77 skipped:
# no GPU, or no torch/torchvision).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
build=$repo/build/release
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  build=$(cd "$1" && pwd)
  shift
fi
if [ ! -x "$build/xsched" ]; then
  echo "run_gpu_tests.sh: no xsched program in $build: build xsched first (cmake --preset release && cmake --build --preset release)" >&2
  exit 2
fi
out=${OUT:-/tmp/xsched-python-gpu}
export PYTHONPATH="$repo/python${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
export XSCHED_LIBRARY="$build/libxsched.so"
# shellcheck disable=SC2086  # XSCHED_RUN_ARGS is a list of options
set -x
exec "$build/xsched" run ${XSCHED_RUN_ARGS:-} -- "${PYTHON:-python3}" "$repo/tests/python/gpu/test5_api.py" --out "$out" "$@"
