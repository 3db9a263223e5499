#!/usr/bin/env bash
# Builds the browser client into web/dist: npm packages from web/package-lock.json, TypeScript
# generated from schemas/client.fbs by flatc, a type check, one esbuild bundle. Installs
# Debian's nodejs and npm when node is missing (root only). qimd serves web/dist with
# --web-root on its WebSocket port.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [[ $(id -u) -ne 0 ]]; then
    echo "build-web: node and npm are missing; install them with: sudo apt-get install nodejs npm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! command -v flatc >/dev/null; then
  echo "build-web: flatc is missing (tools/install-deps.sh installs flatbuffers-compiler)" >&2
  exit 1
fi

cd web
# npm ci installs exactly the lock file; skipped when node_modules was made from this lock file.
stamp=node_modules/.qim-lock-stamp
if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
npm run --silent build
echo "build-web: built $(pwd)/dist"
