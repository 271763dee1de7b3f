#!/usr/bin/env bash
# Builds and runs the whole test suite: the optimised build, then the
# ThreadSanitizer build (timing tests excluded there: the sanitizer slows
# threads down by design, so their latency margins mean nothing).
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset release
cmake --build --preset release
ctest --preset release

cmake --preset tsan
cmake --build --preset tsan
ctest --preset tsan --label-exclude timing
