#!/usr/bin/env bash
# The Debian package (cmake/package.cmake): `cpack -G DEB` builds it; it is
# unpacked with `dpkg -x` into a temporary root (never installed on this
# system), whose programs must run there through their RUNPATHs; its control
# fields, file list and maintainer scripts are checked, and the scripts run
# against that root with DPKG_ROOT and stand-ins for groupadd and systemctl.
#
#   deb_test.sh CPACK BUILD_DIR PYTHON
set -u
cpack=$1 build=$2 python=$3
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
for tool in dpkg-deb dpkg; do
  command -v $tool >/dev/null || { echo "skipped: no $tool here (a Debian or Ubuntu system builds the package)"; exit 77; }
done
if ! command -v dpkg-shlibdeps >/dev/null || ! command -v file >/dev/null; then
  echo "FAIL the package's Depends need dpkg-shlibdeps and file (dpkg-dev, file: scripts/deps.sh)"
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsched-deb-test-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
unset LD_LIBRARY_PATH LD_PRELOAD XSCHED_LIBRARY XSCHED_INTERPOSER PYTHONPATH
clean_path=/usr/local/bin:/usr/bin:/bin

out=$(cd "$tmp" && "$cpack" -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/out" 2>&1); rc=$?
check "cpack -G DEB" $rc
deb=$(ls "$tmp"/out/xsched_*.deb 2>/dev/null | head -1)
if [ $rc -ne 0 ] || [ -z "$deb" ]; then echo "$out"; exit 1; fi
echo "---- $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"
version=$(sed -n 's/^xsched \(.*\)$/\1/p' <<<"$(env PATH=$clean_path "$build/xsched" version)")

# ---- control fields ----
info=$(dpkg-deb -I "$deb")
field() { sed -n "s/^ $1: //p" <<<"$info"; }
[ "$(field Package)" = xsched ]; check "Package: xsched" $?
[ "$(field Version)" = "$version" ]; check "Version: $version" $?
# The status is taken before the message's $(...), which would reset $?.
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ]; st=$?; check "Architecture: $(field Architecture)" $st
[ -n "$(field Maintainer)" ]; st=$?; check "Maintainer: $(field Maintainer)" $st
[ -n "$(field Section)" ] && [ -n "$(field Description)" ]; check "Section and Description" $?
depends=$(field Depends)
echo "     Depends: $depends"
for dep in libc6 libstdc++6 passwd libcpp-httplib; do
  grep -q "$dep" <<<"$depends"; check "Depends names $dep" $?
done
! grep -q "xsched" <<<"$depends"; check "the package does not depend on itself" $?

# ---- files ----
list=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/xsched ./usr/bin/xschedd ./usr/lib/libxsched.so.0 ./usr/lib/libxsched.so \
         ./usr/include/xsched/xsched.h ./usr/include/xsched/xsched.hpp ./usr/include/xsched/xsched_cuda.h \
         ./usr/lib/pkgconfig/xsched.pc ./usr/lib/cmake/xsched/xschedConfig.cmake \
         ./usr/lib/systemd/system/xschedd.service ./etc/xsched/xschedd.conf \
         ./usr/lib/python3/dist-packages/xsched/__init__.py ./usr/share/doc/xsched/daemon.md \
         ./usr/share/man/man1/xsched.1 ./usr/share/man/man8/xschedd.8 ./usr/share/bash-completion/completions/xsched; do
  grep -qx "$f" <<<"$list"; check "holds $f" $?
done
if [ -f "$build/src/interpose/cuda/libxsched_cuda.so" ]; then
  grep -qx ./usr/lib/xsched/libxsched_cuda.so <<<"$list"; check "holds the interposer in /usr/lib/xsched" $?
fi
! grep -E 'libcuda|/lib/libxsched_cuda' <<<"$list"; check "no libcuda.so.1 and no interposer where ldconfig looks" $?
! grep -qE '__pycache__|\.pyc$|^\./usr/local' <<<"$list"; check "no bytecode and nothing in /usr/local" $?

# ---- maintainer scripts and control files ----
dpkg-deb -e "$deb" "$tmp/control"
for s in postinst prerm postrm; do
  [ -x "$tmp/control/$s" ] && sh -n "$tmp/control/$s"; check "$s is executable and parses (sh -n)" $?
done
grep -qx /etc/xsched/xschedd.conf "$tmp/control/conffiles"; check "conffiles: /etc/xsched/xschedd.conf" $?
grep -qx "libxsched 0 xsched (>= $version)" "$tmp/control/shlibs"; check "shlibs: libxsched 0" $?
! grep -q libcuda "$tmp/control/shlibs"; check "shlibs does not offer libcuda" $?
grep -qx "activate-noawait ldconfig" "$tmp/control/triggers"; check "triggers ldconfig" $?

# ---- unpacked into a throwaway root ----
root=$tmp/root
dpkg -x "$deb" "$root"; check "dpkg -x" $?
v=$(env PATH=$clean_path "$root/usr/bin/xsched" version 2>&1); rc=$?
[ $rc -eq 0 ] && [ "$v" = "xsched $version" ]; check "the unpacked xsched runs ($v)" $?
[ "$(env PATH=$clean_path "$root/usr/bin/xschedd" --version 2>&1)" = "xschedd $version" ]; check "the unpacked xschedd runs" $?
out=$(env PATH=$clean_path "$root/usr/bin/xsched" demo --seconds 0.5 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q '^xsched, level 2' <<<"$out"; check "the unpacked xsched demo" $?
if [ -f "$root/usr/lib/xsched/libxsched_cuda.so" ]; then
  out=$(env PATH=$clean_path "$root/usr/bin/xsched" run --quiet -- sh -c 'echo "$LD_PRELOAD"' 2>&1)
  [ "$out" = "$(readlink -f "$root/usr/lib/xsched/libxsched_cuda.so")" ]; check "the unpacked xsched run finds its interposer" $?
fi
grep -qx "ExecStart=/usr/bin/xschedd --group xsched" "$root/usr/lib/systemd/system/xschedd.service"
check "the unit runs /usr/bin/xschedd" $?
grep -q "/etc/xsched/xschedd.conf" "$root/usr/lib/systemd/system/xschedd.service"; check "the unit names /etc/xsched/xschedd.conf" $?
grep -qx "prefix=/usr" "$root/usr/lib/pkgconfig/xsched.pc"; check "xsched.pc: prefix=/usr" $?
out=$(cd "$tmp" && env -i PATH=$clean_path PYTHONPATH="$root/usr/lib/python3/dist-packages" PYTHONDONTWRITEBYTECODE=1 \
      "$python" -c 'import xsched; print(xsched.library_path())' 2>&1)
[ "$(readlink -f "$out")" = "$(readlink -f "$root/usr/lib/libxsched.so.0")" ]; check "the unpacked Python package loads the unpacked library" $?
out=$(cd "$tmp" && env -i PATH=$clean_path PYTHONPATH="$root/usr/lib/python3/dist-packages" PYTHONDONTWRITEBYTECODE=1 \
      "$python" -m xsched --version 2>&1)
[ "$out" = "xsched $version" ]; check "python -m xsched runs the unpacked program" $?

# The maintainer scripts against the root, with stand-ins that log their calls.
stubs=$tmp/stubs
mkdir -p "$stubs" "$root/etc"
for tool in groupadd addgroup systemctl getent; do
  printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$tool" "$tmp/calls" >"$stubs/$tool"
  chmod +x "$stubs/$tool"
done
script() {  # script NAME ARGS...: runs a maintainer script as dpkg would, into $root
  env PATH="$stubs:$clean_path" DPKG_ROOT="$root" DPKG_MAINTSCRIPT_NAME="$1" sh "$tmp/control/$1" "${@:2}"
}
: >"$tmp/calls"; : >"$root/etc/group"
script postinst configure; rc=$?
[ $rc -eq 0 ] && grep -qx "groupadd --prefix $root --system xsched" "$tmp/calls"; check "postinst configure adds the group xsched" $?
echo "xsched:x:998:" >"$root/etc/group"; : >"$tmp/calls"
script postinst configure "$version"; rc=$?
[ $rc -eq 0 ] && ! grep -q groupadd "$tmp/calls"; check "postinst keeps an existing group" $?
script postinst abort-upgrade "$version"; check "postinst abort-upgrade" $?
! script postinst frobnicate 2>/dev/null; check "postinst refuses an unknown action" $?
mkdir -p "$root/usr/lib/python3/dist-packages/xsched/__pycache__"; : >"$tmp/calls"
script prerm remove; rc=$?
[ $rc -eq 0 ] && grep -qx "systemctl --root=$root disable xschedd.service" "$tmp/calls" \
  && [ ! -e "$root/usr/lib/python3/dist-packages/xsched/__pycache__" ]
check "prerm remove disables the unit and removes bytecode" $?
script prerm upgrade "$version"; check "prerm upgrade" $?
script postrm remove; check "postrm remove" $?
rm -f "$root/etc/xsched/xschedd.conf"  # dpkg removes conffiles before postrm purge
script postrm purge; rc=$?
[ $rc -eq 0 ] && [ ! -e "$root/etc/xsched" ]; check "postrm purge removes the empty /etc/xsched" $?
grep -q "^xsched:" "$root/etc/group"; check "postrm purge keeps the group" $?
others=0
for a in upgrade abort-install disappear; do script postrm $a "$version" || others=1; done
check "postrm accepts dpkg's other actions" $others

exit $fail
