#!/usr/bin/env bash
# Builds the web client, installs the test's npm packages (exactly the lock file), and runs the
# browser scenario. Screenshots go to ARTIFACTS.
# Usage: run.sh QIMD QIM QIMCTL ARTIFACTS
set -euo pipefail
if (($# != 4)); then
  echo "usage: run.sh QIMD QIM QIMCTL ARTIFACTS" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bash "$root/tools/build-web.sh" >/dev/null
cd "$here"
stamp=node_modules/.qim-lock-stamp
if [[ ! -f "$stamp" ]] || ! cmp -s package-lock.json "$stamp"; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
rm -f "$4"/*.png
exec node chat_test.mjs --qimd "$1" --qim "$2" --qimctl "$3" --web-root "$root/web/dist" --artifacts "$4"
