#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole default test suite: unit, simulation, e2e
# and web (the browser client in headless Chromium) tests; the unit and e2e tests again under ASan+UBSan; a short run of every fuzzer; and
# the format check. Slow simulations and benchmarks have their own commands (README).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

bash tools/install-deps.sh --test

echo "== format"
git_files=$(git ls-files '*.cc' '*.h' 2>/dev/null || find src include tools tests -name '*.cc' -o -name '*.h')
clang-format --dry-run -Werror $git_files

echo "== release build and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure --timeout 300 -j "$jobs" -LE 'slow|fuzz|soak'

echo "== ASan+UBSan build, unit and e2e tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQIM_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --timeout 600 -j "$jobs" -L 'unit|e2e'

echo "== fuzzers (short run)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DQIM_FUZZ=ON -DQIM_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target qim_fuzzers
ctest --test-dir build-fuzz --output-on-failure --timeout 300 -L fuzz
