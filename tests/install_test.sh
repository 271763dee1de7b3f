#!/usr/bin/env bash
# `cmake --install` as a user meets it: the tree installed to a temporary
# prefix works there and after a move (RUNPATHs relative to the programs),
# libxsched.so has a versioned SONAME, `xsched run` finds the installed
# interposer, a C program builds with pkg-config and a C++ one with
# find_package(xsched), xschedd reads PREFIX/etc/xsched/xschedd.conf, and the
# Python package (in a venv with pip where python3-venv is there, else by
# PYTHONPATH) finds the installed library and program.
#
#   install_test.sh CMAKE BUILD_DIR SOURCE_DIR PYTHON
set -u
cmake=$1 build=$2 source=$3 python=$4
fail=0
check() {  # check NAME CONDITION-RESULT
  if [ "$2" -eq 0 ]; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
note() { echo "---- $*"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/xsched-install-test-XXXXXX") || exit 1
daemon_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
prefix=$tmp/prefix
# The installed programs must not lean on the build tree or the caller's paths.
unset LD_LIBRARY_PATH LD_PRELOAD XSCHED_LIBRARY XSCHED_INTERPOSER PYTHONPATH
clean_path=/usr/local/bin:/usr/bin:/bin

note "cmake --install $build --prefix $prefix"
out=$("$cmake" --install "$build" --prefix "$prefix" 2>&1); rc=$?
check "cmake --install" $rc
[ $rc -eq 0 ] || { echo "$out"; exit 1; }

# ---- the layout ----
libdir=$prefix/lib
for f in bin/xsched bin/xschedd include/xsched/xsched.h include/xsched/xsched.hpp \
         lib/pkgconfig/xsched.pc lib/cmake/xsched/xschedConfig.cmake lib/cmake/xsched/xschedConfigVersion.cmake \
         lib/systemd/system/xschedd.service etc/xsched/xschedd.conf share/doc/xsched/README.md \
         share/doc/xsched/daemon.md lib/python3/dist-packages/xsched/__init__.py share/man/man1/xsched.1 \
         share/man/man8/xschedd.8 share/bash-completion/completions/xsched; do
  [ -e "$prefix/$f" ]; check "installed $f" $?
done
real=$(readlink -f "$libdir/libxsched.so")
[ "$(readlink "$libdir/libxsched.so")" = libxsched.so.0 ] && [ -f "$real" ] && [ "$(basename "$real")" != libxsched.so.0 ]
st=$?  # before the message's $(...), which would reset $?
check "libxsched.so -> libxsched.so.0 -> $(basename "$real")" $st

# ---- ELF: SONAME and RUNPATH ----
readelf -d "$real" | grep -q 'SONAME.*\[libxsched.so.0\]'; check "libxsched's SONAME is libxsched.so.0" $?
dyn=$(readelf -d "$prefix/bin/xsched")
grep -q 'RUNPATH.*\[\$ORIGIN/../lib\]' <<<"$dyn"; check "xsched's RUNPATH is \$ORIGIN/../lib" $?
grep -q 'NEEDED.*\[libxsched.so.0\]' <<<"$dyn"; check "xsched needs libxsched.so.0" $?
leaks=0
for f in "$prefix"/bin/* "$libdir"/*.so* "$libdir"/xsched/*.so; do
  [ -f "$f" ] || continue
  readelf -d "$f" | grep -E 'RPATH|RUNPATH' | grep -qF "$build" && { echo "  $f names the build tree"; leaks=1; }
done
check "no installed file's RUNPATH names the build tree" $leaks
interposer=$libdir/xsched/libxsched_cuda.so
if [ -f "$interposer" ]; then
  readelf -d "$interposer" | grep -q 'SONAME.*\[libcuda.so.1\]'; check "the interposer's SONAME is libcuda.so.1" $?
else
  echo "skip the interposer (not built here: no cuda.h)"
fi
# Its SONAME is libcuda.so.1: in a folder ldconfig scans it would replace the driver.
! ls "$libdir" | grep -qE '^(libxsched_cuda|libcuda)'; check "no interposer or libcuda in lib/ itself" $?

# The installed completion, sourced, completes from the installed program.
out=$(env PATH="$prefix/bin:$clean_path" bash -c 'source "$1/share/bash-completion/completions/xsched" &&
      COMP_WORDS=(xsched po) COMP_CWORD=1 && _xsched && echo "${COMPREPLY[*]}"' sh "$prefix" 2>&1)
[ "$out" = policy ]; check "the installed completion completes 'xsched po' to policy ($out)" $?

# ---- the programs ----
v=$(env PATH=$clean_path "$prefix/bin/xsched" version 2>&1); rc=$?
[ $rc -eq 0 ] && grep -qE '^xsched [0-9]+\.[0-9]+\.[0-9]+$' <<<"$v"; check "xsched version ($v)" $?
[ "$(env PATH=$clean_path "$prefix/bin/xsched" --version 2>&1)" = "$v" ]; check "xsched --version" $?
[ "$(env PATH=$clean_path "$prefix/bin/xschedd" --version 2>&1)" = "xschedd ${v#xsched }" ]; check "xschedd --version" $?
version=${v#xsched }
out=$(env PATH=$clean_path "$prefix/bin/xsched" demo --seconds 1 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q '^xsched, level 1' <<<"$out"; check "xsched demo --seconds 1" $?
[ $rc -eq 0 ] || echo "$out"
run_out=$(env PATH=$clean_path "$prefix/bin/xsched" run --quiet -- sh -c 'echo "$LD_PRELOAD"' 2>&1); rc=$?
if [ -f "$interposer" ]; then
  [ $rc -eq 0 ] && [ "$run_out" = "$(readlink -f "$interposer")" ]; check "xsched run preloads lib/xsched/libxsched_cuda.so" $?
else
  [ $rc -eq 1 ] && grep -q "lib/xsched" <<<"$run_out"; check "xsched run without an interposer names lib/xsched" $?
fi

# ---- the systemd unit and the config file ----
unit=$prefix/lib/systemd/system/xschedd.service
grep -qx "ExecStart=$prefix/bin/xschedd --group xsched" "$unit"; check "the unit runs $prefix/bin/xschedd" $?
grep -qx "Documentation=file://$prefix/share/doc/xsched/daemon.md" "$unit"; check "the unit's documentation is installed" $?
grep -q "$prefix/etc/xsched/xschedd.conf" "$unit"; check "the unit names $prefix/etc/xsched/xschedd.conf" $?
! grep -q "/usr/local" "$unit"; check "the unit names no /usr/local path" $?
env PATH=$clean_path "$prefix/bin/xschedd" --help | grep -qx "This xschedd's config file: $prefix/etc/xsched/xschedd.conf"
check "xschedd --help names its config file" $?

conf=$prefix/etc/xsched/xschedd.conf
sock=$tmp/run/xschedd.sock
printf 'policy = fair\nsocket = %s\n' "$sock" >"$conf"
# Starts the installed xschedd with "$@"; waits for its socket; prints the policy it serves.
daemon_policy() {
  env PATH=$clean_path "$prefix/bin/xschedd" "$@" 2>>"$tmp/xschedd.log" &
  daemon_pid=$!
  local policy="" i
  for i in $(seq 100); do
    policy=$(env PATH=$clean_path "$prefix/bin/xsched" policy --socket "$sock" 2>/dev/null) && break
    kill -0 "$daemon_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill "$daemon_pid" 2>/dev/null
  wait "$daemon_pid" 2>/dev/null
  daemon_pid=
  echo "$policy"
}
[ "$(daemon_policy)" = fair ]; check "xschedd reads $conf" $?
grep -q "settings from $conf" "$tmp/xschedd.log"; check "xschedd logs the file it read" $?
[ "$(daemon_policy --policy bandwidth)" = bandwidth ]; check "the command line wins over the file" $?
[ "$(daemon_policy --config /dev/null --socket "$sock")" = priority ]; check "--config replaces the file" $?
echo "policy = sometimes" >>"$conf"
out=$(env PATH=$clean_path "$prefix/bin/xschedd" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "$conf:3: policy 'sometimes'" <<<"$out"; check "a bad line in the file is an error naming it" $?
out=$("$cmake" --install "$build" --prefix "$prefix" 2>&1)
grep -q "sometimes" "$conf" && grep -q "Keeping: $conf" <<<"$out"; check "installing again keeps the config file" $?

# ---- C and C++ users ----
cat >"$tmp/use.c" <<'EOF'
#include <stdio.h>
#include <xsched/xsched.h>
int main(void) {
  xs_host_device_t dev = NULL;
  xs_host_stream_t stream = NULL;
  xs_queue_t q = NULL;
  if (xs_host_device_create(1, &dev) != XS_OK || xs_host_stream_create(dev, &stream) != XS_OK ||
      xs_queue_create(XS_PLATFORM_HOST, stream, NULL, &q) != XS_OK || xs_queue_wait_all(q, XS_WAIT_FOREVER) != XS_OK)
    return 1;
  xs_queue_destroy(q);
  xs_host_stream_destroy(stream);
  xs_host_device_destroy(dev);
  unsigned v = xs_version();
  printf("%u.%u.%u\n", v / 10000, v / 100 % 100, v % 100);
  return 0;
}
EOF
export PKG_CONFIG_PATH=$libdir/pkgconfig
if command -v pkg-config >/dev/null; then
  [ "$(pkg-config --modversion xsched)" = "$version" ]; check "pkg-config --modversion xsched" $?
  [ "$(pkg-config --variable=libdir xsched)" = "$libdir" ]; check "pkg-config's libdir is the prefix's" $?
  # shellcheck disable=SC2046
  cc -Wall -Werror -o "$tmp/use_c" "$tmp/use.c" $(pkg-config --cflags --libs xsched) \
     -Wl,-rpath,"$(pkg-config --variable=libdir xsched)" 2>&1; check "cc \$(pkg-config --cflags --libs xsched)" $?
  [ "$(env PATH=$clean_path "$tmp/use_c")" = "$version" ]; check "the C program runs against the prefix" $?
else
  echo "FAIL pkg-config is not installed (pkgconf: scripts/deps.sh)"; fail=1
fi
unset PKG_CONFIG_PATH

mkdir -p "$tmp/use_cmake"
cat >"$tmp/use_cmake/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(use_xsched LANGUAGES CXX)
find_package(xsched 0.1 REQUIRED)
message(STATUS "xsched ${xsched_VERSION}: program ${xsched_PROGRAM}")
add_executable(use use.cpp)
target_compile_features(use PRIVATE cxx_std_17)
target_link_libraries(use PRIVATE xsched::xsched)
EOF
cat >"$tmp/use_cmake/use.cpp" <<'EOF'
#include <cstdio>
#include <xsched/xsched.hpp>
int main() {
  xsched::HostDevice dev;
  xsched::HostStream stream(dev);
  xsched::Queue q(stream);
  q.wait(q.submit_host_kernel(1000));
  const unsigned v = xs_version();
  std::printf("%u.%u.%u\n", v / 10000, v / 100 % 100, v % 100);
}
EOF
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
out=$("$cmake" -S "$tmp/use_cmake" -B "$tmp/use_cmake/build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" 2>&1); rc=$?
[ $rc -eq 0 ] && grep -q "xsched $version: program $prefix/bin/xsched" <<<"$out"; check "find_package(xsched)" $?
[ $rc -eq 0 ] || echo "$out"
out=$("$cmake" --build "$tmp/use_cmake/build" 2>&1); rc=$?
check "a CMake project links xsched::xsched" $rc
[ $rc -eq 0 ] || echo "$out"
[ "$(env PATH=$clean_path "$tmp/use_cmake/build/use")" = "$version" ]; check "the C++ program runs" $?
sed -i 's/find_package(xsched 0.1 REQUIRED)/find_package(xsched 1.0 REQUIRED)/' "$tmp/use_cmake/CMakeLists.txt"
out=$("$cmake" -S "$tmp/use_cmake" -B "$tmp/use_cmake/build_1.0" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" 2>&1); rc=$?
[ $rc -ne 0 ]; check "find_package(xsched 1.0) refuses $version" $?

# ---- Python ----
py_check() {  # py_check NAME ENV... : python -m xsched --help and the library the package finds
  local name=$1; shift
  local out rc
  out=$(cd "$tmp" && env -i HOME="$tmp" "$@" "$py" -m xsched --help 2>&1); rc=$?
  [ $rc -eq 0 ] && grep -q "usage: xsched" <<<"$out"; check "python -m xsched --help, $name" $?
  [ $rc -eq 0 ] || echo "$out"
  out=$(cd "$tmp" && env -i HOME="$tmp" "$@" "$py" -c 'import xsched; print(xsched.library_path())' 2>&1)
  if [ "$(readlink -f "$out")" != "$real" ] && [ -n "$system_copy" ]; then
    echo "skip the package's library, $name: this machine has its own ($system_copy), which Python's prefix finds first"
  else
    [ "$(readlink -f "$out")" = "$real" ]; check "the package loads the prefix's libxsched, $name ($out)" $?
  fi
}
# An xsched installed on this machine in Python's own prefix comes before PATH's.
system_copy=$(ls /usr/lib/libxsched.so* /usr/lib/*-linux-gnu/libxsched.so* 2>/dev/null | head -1)
py=""
if "$python" -m venv "$tmp/venv" >/dev/null 2>&1 && [ -x "$tmp/venv/bin/pip" ]; then
  out=$("$tmp/venv/bin/pip" install --no-index --no-deps --disable-pip-version-check --no-cache-dir \
        --no-build-isolation "$source/python" 2>&1); rc=$?
  check "pip install ./python into a venv" $rc
  [ $rc -eq 0 ] || echo "$out"
  py=$tmp/venv/bin/python
  pp=()
else
  echo "---- no venv with pip here (python3-venv): the package through PYTHONPATH"
  py=$python
  pp=(PYTHONPATH="$source/python")
fi
# Without any hint the package cannot know the prefix.
py_check "given XSCHED_LIBRARY=PREFIX/lib" "${pp[@]}" PATH=$clean_path XSCHED_LIBRARY="$libdir"
py_check "given LD_LIBRARY_PATH=PREFIX/lib" "${pp[@]}" PATH=$clean_path LD_LIBRARY_PATH="$libdir"
py_check "given PATH=PREFIX/bin" "${pp[@]}" PATH="$prefix/bin:$clean_path"
py_check "installed by cmake (PYTHONPATH=PREFIX/lib/python3/dist-packages)" \
  PYTHONPATH="$prefix/lib/python3/dist-packages" PATH=$clean_path

# ---- the tree moved elsewhere still works ----
moved=$tmp/moved
mv "$prefix" "$moved"
[ "$(env PATH=$clean_path "$moved/bin/xsched" version 2>&1)" = "$v" ]; check "a moved tree's xsched runs" $?
if [ -f "$moved/lib/xsched/libxsched_cuda.so" ]; then
  out=$(env PATH=$clean_path "$moved/bin/xsched" run --quiet -- sh -c 'echo "$LD_PRELOAD"' 2>&1)
  [ "$out" = "$(readlink -f "$moved/lib/xsched/libxsched_cuda.so")" ]; check "a moved tree's xsched run finds its interposer" $?
fi
mv "$moved" "$prefix"

exit $fail
