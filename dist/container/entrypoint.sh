#!/bin/sh
# The xsched image's entrypoint (dist/container/Containerfile).
#
#   xsched-entrypoint export DIR   copy /opt/xsched (xsched, libxsched.so.0, the
#                                  interposer) into DIR and exit: an init container's job
#   xsched-entrypoint CMD...       with XSCHED_EXPORT=DIR set, the same copy first; then CMD
#                                  (the image's default: xschedd --group xsched)
#
# The copy goes file by file, each written beside its place and renamed into
# it: a program that runs with the old files keeps them, and one that starts
# meanwhile gets an old or a new file, never half of one.
set -eu
tree=${XSCHED_TREE:-/opt/xsched}  # what is copied (a test points it elsewhere)

export_tree() {
  dest=$1
  mkdir -p "$dest"
  (cd "$tree" && find . -type d) | while IFS= read -r d; do mkdir -p "$dest/$d"; done
  (cd "$tree" && find . ! -type d) | while IFS= read -r f; do
    cp -a "$tree/$f" "$dest/$f.new.$$"
    mv -fT "$dest/$f.new.$$" "$dest/$f"
  done
  echo "xsched-entrypoint: $("$tree/bin/xsched" version) copied to $dest"
}

if [ "${1:-}" = export ]; then
  [ $# -eq 2 ] || { echo "usage: xsched-entrypoint export DIR" >&2; exit 2; }
  export_tree "$2"
  exit 0
fi
if [ -n "${XSCHED_EXPORT:-}" ]; then
  export_tree "$XSCHED_EXPORT"
fi
exec "$@"
