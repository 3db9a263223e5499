#!/usr/bin/env bash
# Installs what qim needs from Debian 12's packages. `--test` adds the test-only tools
# (clang for the fuzzers, clang-format). Skips apt entirely when everything is present.
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
  libasio-dev libflatbuffers-dev flatbuffers-compiler librocksdb-dev libsodium-dev
  libcli11-dev libfmt-dev catch2 libedit-dev nlohmann-json3-dev libcpp-httplib-dev libssl-dev)
if [[ "${1:-}" == "--test" ]]; then
  # openssl: the e2e tests make their test CA and certificates with it.
  packages+=(clang clang-format libclang-rt-14-dev openssl)
  # The browser test (tests/web): headless Chromium, and emoji and CJK fonts for its screenshots.
  packages+=(chromium fonts-noto-color-emoji fonts-wqy-microhei)
  # node and npm build the web client and drive the browser; any node 18+ on the PATH will do
  # (Debian's packages are installed only when there is none, so another install is kept).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    packages+=(nodejs npm)
  fi
fi

# promtool checks /metrics in the e2e tests. Debian ships it in the prometheus package, whose
# install would also start a Prometheus server; only the promtool binary is taken from the
# package, with apt's own download, into a directory of its own.
install_promtool() {
  local target=/usr/local/lib/qim-test/bin/promtool
  [[ -x "$target" ]] && return 0
  command -v promtool >/dev/null && return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: promtool missing (the e2e metrics test then uses its own checker only)" >&2
    return 0
  fi
  local work
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1) || { rm -rf "$work"; return 0; }
  mkdir -p "$(dirname "$target")"
  dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -O ./usr/bin/promtool >"$target.tmp"
  chmod 0755 "$target.tmp" && mv "$target.tmp" "$target"
  rm -rf "$work"
  echo "install-deps: installed promtool in $(dirname "$target")"
}

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]} == 0)); then
  if [[ "${1:-}" == "--test" ]]; then install_promtool; fi
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
if [[ "${1:-}" == "--test" ]]; then install_promtool; fi
