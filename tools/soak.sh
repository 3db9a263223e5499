#!/usr/bin/env bash
# Runs the fault-injection soak (tests/soak, qim-soak) for several seeds: builds a
# RelWithDebInfo tree of its own (build-soak), runs each seed for the given minutes with every
# fault kind, prints one summary line per seed and the totals. Exit 0 only if every seed passed.
#
#   bash tools/soak.sh [--seeds N] [--minutes M] [--first-seed S] [--faults KINDS]
#                      [--out DIR] [--qimd-arg ARG]... [-- more qim-soak flags]
#
# Each seed's history, node logs and report are in DIR/seed-S (default soak-results/); a seed
# is replayed with the command qim-soak prints first.
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=3
minutes=10
first_seed=1
faults=all
out=soak-results
qimd_args=()
extra=()
while (($#)); do
  case "$1" in
    --seeds) seeds=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --first-seed) first_seed=$2; shift 2 ;;
    --faults) faults=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --qimd-arg) qimd_args+=("--qimd-arg=$2"); shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

bash tools/install-deps.sh
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build-soak -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build-soak -j 2 --target qim-soak

mkdir -p "$out"
passed=0
failed=0
summaries=()
for ((seed = first_seed; seed < first_seed + seeds; seed++)); do
  dir="$out/seed-$seed"
  echo "== seed $seed: $minutes min, faults $faults ($dir)"
  set +e
  ./build-soak/tests/soak/qim-soak --seed "$seed" --duration-s $((minutes * 60)) \
    --faults "$faults" --out "$dir" "${qimd_args[@]}" "${extra[@]}" >"$dir.log" 2>&1
  status=$?
  set -e
  line=$(grep -E '^seed [0-9]+ (PASS|FAIL)' "$dir.log" | tail -1 || true)
  if [[ -z "$line" ]]; then
    line="seed $seed ERROR: qim-soak exited with $status before checking (see $dir.log)"
  fi
  echo "$line"
  summaries+=("$line")
  if ((status == 0)); then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done

echo "== totals: $seeds seeds x $minutes min, faults $faults: $passed passed, $failed failed"
for line in "${summaries[@]}"; do echo "   $line"; done
((failed == 0))
