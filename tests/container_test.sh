#!/usr/bin/env bash
# The container image (dist/container/Containerfile): built with podman from
# the Debian package, its tools run, and its entrypoint exports the tree that
# application containers mount (xsched, libxsched.so.0, the interposer), which
# then runs from where it was exported. Skipped (77), saying why, where podman
# is missing or no base image is present locally (nothing is pulled: the test
# must not need a network), or where apt in the build cannot reach a mirror.
#
#   container_test.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 source=$2
base=${XSCHED_TEST_BASE_IMAGE:-docker.io/library/debian:12-slim}
command -v podman >/dev/null || { echo "skipped: podman is not installed"; exit 77; }
if ! podman image exists "$base" 2>/dev/null; then
  echo "skipped: the base image $base is not present locally (podman pull $base, or set XSCHED_TEST_BASE_IMAGE);"
  echo "         the test pulls nothing"
  exit 77
fi
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
tag=localhost/xsched-test:$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsched-container-test-XXXXXX") || exit 1
trap 'podman rmi -f "$tag" >/dev/null 2>&1; rm -rf "$tmp"' EXIT

out=$(CONTAINER_ENGINE=podman "$source/dist/container/build.sh" "$build" "$tag" --pull=never --build-arg BASE="$base" 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qE "Temporary failure resolving|Could not resolve|Failed to fetch|Unable to locate package" <<<"$out"; then
  echo "$out" | tail -5
  echo "skipped: apt in the image build cannot reach a Debian mirror (the package's Depends come from there)"
  exit 77
fi
check "podman build (dist/container/build.sh)" $rc
[ $rc -eq 0 ] || { echo "$out" | tail -30; exit 1; }

v=$("$build/xsched" version)
[ "$(podman run --rm "$tag" xsched version)" = "$v" ]; check "xsched in the image" $?
[ "$(podman run --rm "$tag" xschedd --version)" = "xschedd ${v#xsched }" ]; check "xschedd in the image" $?
[ "$(podman run --rm "$tag" getent group xsched | cut -d: -f3)" = 2000 ]; check "the group xsched has GID 2000" $?
podman run --rm "$tag" test -x /opt/xsched/bin/xsched; check "the image holds /opt/xsched" $?

mkdir -p "$tmp/export" "$tmp/run"
podman run --rm -v "$tmp/export:/export" "$tag" export /export >/dev/null; check "xsched-entrypoint export" $?
[ "$(env -u LD_LIBRARY_PATH "$tmp/export/bin/xsched" version)" = "$v" ]; check "the exported xsched runs where it was exported" $?
if [ -f "$build/src/interpose/cuda/libxsched_cuda.so" ]; then
  [ -f "$tmp/export/lib/xsched/libxsched_cuda.so" ]; check "the export holds the interposer" $?
fi

# The daemon in the image, its socket in a host folder, reached from here.
podman run -d --name "xsched-test-$$" -v "$tmp/run:/run/xsched" "$tag" >/dev/null; check "podman run the daemon" $?
for _ in $(seq 50); do [ -S "$tmp/run/xschedd.sock" ] && break; sleep 0.1; done
[ "$("$build/xsched" policy --socket "$tmp/run/xschedd.sock" 2>&1)" = priority ]; check "the daemon in the image answers" $?
podman rm -f "xsched-test-$$" >/dev/null 2>&1

exit $fail
