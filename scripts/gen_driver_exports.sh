#!/usr/bin/env bash
# Regenerates src/interpose/cuda/driver_exports.txt: every function the NVIDIA
# driver library exports, one name per line, sorted. The interposer gives each
# one a forwarding trampoline, so a program linked with -lcuda always loads.
# Run it against a newer toolkit's stub (or a real driver) when the driver API
# grows; the stub exports exactly the real driver's public entry points.
#   scripts/gen_driver_exports.sh [path/to/libcuda.so]
set -euo pipefail
cd "$(dirname "$0")/.."

lib="${1:-${CUDA_HOME:-/usr/local/cuda}/lib64/stubs/libcuda.so}"
out=src/interpose/cuda/driver_exports.txt
[ -r "$lib" ] || { echo "gen_driver_exports: cannot read $lib" >&2; exit 1; }

# Defined dynamic text symbols only; "name@@VERSION" is cut to the name.
nm -D --defined-only "$lib" |
  awk '$2 == "T" || $2 == "W" || $2 == "i" { sub(/@.*/, "", $3); print $3 }' |
  LC_ALL=C sort -u >"$out.tmp"
[ -s "$out.tmp" ] || { rm -f "$out.tmp"; echo "gen_driver_exports: no symbols in $lib" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "gen_driver_exports: $(wc -l <"$out") names from $lib -> $out"
