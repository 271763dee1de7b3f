#!/usr/bin/env bash
# Builds the xsched container image (dist/container/Containerfile) from a build
# folder: the Debian package (cpack -G DEB) and the entrypoint make the context.
#
#   dist/container/build.sh BUILD_DIR [TAG] [podman build options...]
#
# The engine is podman, else docker ($CONTAINER_ENGINE chooses). The base
# image (BASE, default docker.io/library/debian:12-slim) must match the
# system the package was built on: the package's Depends name its libraries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: build.sh BUILD_DIR [TAG] [build options...]}
tag=${2:-xsched:latest}
shift $(( $# >= 2 ? 2 : 1 ))
engine=${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$engine" ] || { echo "build.sh: neither podman nor docker is installed" >&2; exit 1; }

context=$(mktemp -d "${TMPDIR:-/tmp}/xsched-image-XXXXXX")
trap 'rm -rf "$context"' EXIT
(cd "$context" && cpack -G DEB --config "$(cd "$build" && pwd)/CPackConfig.cmake" -B "$context/deb" >/dev/null)
cp "$context"/deb/xsched_*.deb "$context/xsched.deb"
rm -rf "$context/deb"
cp "$here/Containerfile" "$here/entrypoint.sh" "$context/"
"$engine" build -f "$context/Containerfile" -t "$tag" "$@" "$context"
