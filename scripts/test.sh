#!/usr/bin/env bash
# Builds and runs the whole test suite three ways: the optimised build, then
# ThreadSanitizer and AddressSanitizer (+LeakSanitizer, UBSan) builds. The
# sanitizer runs leave out the tests labelled "timing": sanitizers slow
# threads down by design, so latency margins mean nothing there.
set -euo pipefail
cd "$(dirname "$0")/.."

for preset in release tsan asan; do
  echo "=== $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  if [ "$preset" = release ]; then
    ctest --preset "$preset"
  else
    ctest --preset "$preset" --label-exclude timing
  fi
done
