#!/usr/bin/env bash
# Builds and runs the whole test suite three ways: the optimised build, then
# ThreadSanitizer and AddressSanitizer (+LeakSanitizer, UBSan) builds. The
# sanitizer runs leave out the tests labelled "timing": sanitizers slow
# threads down by design, so latency margins mean nothing there. Then the
# fuzz targets (tests/fuzz; clang and libFuzzer), each for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."

for preset in release tsan asan fuzz; do
  echo "=== $preset"
  if [ "$preset" = fuzz ] && ! command -v clang++-14 >/dev/null; then
    echo "test.sh: the fuzz preset needs clang++-14 and libFuzzer (libclang-rt-14-dev): run scripts/deps.sh" >&2
    exit 1
  fi
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  if [ "$preset" = release ] || [ "$preset" = fuzz ]; then
    ctest --preset "$preset"
  else
    ctest --preset "$preset" --label-exclude timing
  fi
done
