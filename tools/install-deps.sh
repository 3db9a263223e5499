#!/usr/bin/env bash
# Installs what qim needs from Debian 12's packages. `--test` adds the test-only tools
# (clang for the fuzzers, clang-format). Skips apt entirely when everything is present.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
  libasio-dev libflatbuffers-dev flatbuffers-compiler librocksdb-dev libsodium-dev
  libcli11-dev libfmt-dev catch2 libedit-dev nlohmann-json3-dev)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(clang clang-format libclang-rt-14-dev)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root, or install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: installed ${missing[*]}"
