#!/usr/bin/env bash
# The HIP interposer's exports against AMD's runtime: each entry point that
# both libxsched_hip.so and an installed libamdhip64.so define carries the
# same symbol version in both (a program built against the runtime asks for
# that version; a wrapper under another one would not stand in for it), and
# the runtime's names the interposer wraps are all there. Skipped (77) where
# no libamdhip64.so is installed.
#   hip_exports_versions_test.sh NM INTERPOSER [RUNTIME]
set -u
nm=$1 interposer=$2 runtime=${3:-}
if [ -z "$runtime" ]; then
  for f in /opt/rocm/lib/libamdhip64.so /usr/lib/x86_64-linux-gnu/libamdhip64.so /usr/lib64/libamdhip64.so; do
    if [ -e "$f" ]; then runtime=$f; break; fi
  done
fi
if [ -z "$runtime" ] || [ ! -e "$runtime" ]; then echo "skipped: no libamdhip64.so installed"; exit 77; fi
runtime=$(readlink -f "$runtime")

# name version, one a line, for the defined, versioned HIP entry points of a library.
versions() {
  "$nm" -D --defined-only "$1" | sed -n 's/^[0-9a-f]* [A-Z] \(\(__\)\{0,1\}hip[A-Za-z0-9_]*\|_Z[0-9]*hip[A-Za-z0-9_]*\)@@\{0,1\}\([A-Za-z0-9_.]*\)$/\1 \3/p' | sort -u
}
ours=$(versions "$interposer")
theirs=$(versions "$runtime")
[ -n "$ours" ] || { echo "FAIL no versioned entry point in $interposer"; exit 1; }
[ -n "$theirs" ] || { echo "skipped: $runtime has no versioned entry points"; exit 77; }
echo "runtime: $runtime"
failures=0 compared=0
while read -r name version; do
  theirs_version=$(awk -v n="$name" '$1 == n {print $2}' <<<"$theirs")
  if [ -z "$theirs_version" ]; then
    echo "     $name@$version: not in this runtime (a later ROCm's)"
    continue
  fi
  compared=$((compared + 1))
  if [ "$theirs_version" = "$version" ]; then
    echo "ok   $name@$version"
  else
    echo "FAIL $name: ours @$version, the runtime's @$theirs_version"
    failures=$((failures + 1))
  fi
done <<<"$ours"
[ "$compared" -gt 0 ] || { echo "FAIL no entry point in common"; exit 1; }
[ $failures -eq 0 ] || { echo "hip_exports_versions_test: $failures differ"; exit 1; }
