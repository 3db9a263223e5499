#!/usr/bin/env bash
# Installs dependencies, builds qim, and runs one qimd node in the foreground: the embedded
# default (loopback, data in ./qim-data). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQIM_BUILD_TESTS=OFF >/dev/null
cmake --build build --target qimd qim

cat <<TEXT

qimd is starting on 127.0.0.1:7700 with its data in ./qim-data.
Open two more terminals in $(pwd) and chat:

  terminal 1:  ./build/tools/qim/qim
               register alice secret-pass-1
               login -u alice -p secret-pass-1
               fadd bob

  terminal 2:  ./build/tools/qim/qim
               register bob secret-pass-2
               login -u bob -p secret-pass-2
               faccept alice
               send -r alice -m hello alice      (or: alice;;hello alice)

Type 'help' in qim for every command. Ctrl-C here stops the node.

TEXT
exec ./build/src/node/qimd
