#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the build and tests need: as root it
# installs what is missing; otherwise it prints the apt-get line and fails.
set -euo pipefail

# clang-14 and libclang-rt-14-dev (libclang_rt.fuzzer, libFuzzer): the fuzz preset.
# libcpp-httplib-dev and pkgconf (which finds it): xschedd's --metrics listener.
# libcli11-dev and nlohmann-json3-dev: the xsched command line's options and JSON.
# prometheus (promtool and the server): the metrics tests check a real scrape with both.
# dpkg-dev and file (cpack's Depends through dpkg-shlibdeps), python3-venv (pip into a venv)
# and python3-yaml (the Kubernetes manifests): the install, package and deployment tests.
# libamdhip64-dev (ROCm's HIP headers): the HIP platform is built and tested on a fake runtime.
packages=(cmake ninja-build g++ libgtest-dev python3-pytest clang-14 libclang-rt-14-dev pkgconf libcpp-httplib-dev
          libcli11-dev nlohmann-json3-dev libamdhip64-dev prometheus dpkg-dev file python3-venv python3-yaml)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: missing packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
