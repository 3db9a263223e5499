#!/usr/bin/env bash
# The standard qim benchmark: builds Release in build-bench, runs qimd pinned to core 0 and
# qim-bench pinned to core 1, runs each workload several times and prints the median and
# min..max of each figure. Not part of the test suite.
#
#   tools/bench.sh                 # the standard set, 3 runs each (about 8 minutes)
#   tools/bench.sh --quick         # 1 run each, 3 s measured (about 2 minutes)
#   tools/bench.sh --only o2o,idle --runs 5 --duration 5
#   tools/bench.sh --set tls       # plaintext o2o vs TLS o2o, idle over TLS, handshake rates
#   tools/bench.sh --only o2o-acks --baseline OLD/qimd   # also runs each workload against
#                                  # another qimd build (base-<workload>) and prints the ratios
#
# Workloads: o2o, o2o-contacts (o2o where each user writes to 10 fixed others, so messages go
# to conversations that exist: o2o alone opens a new one with nearly every message),
# o2o-acks (o2o with receivers acknowledging every read burst, --read-acks),
# o2o-rate (o2o --rate 20000), fanout, fanout-rate (fanout --rate 100),
# idle (18000 connections), login, cluster-o2o and cluster-fanout (the same against three
# nodes, all on the server core, users spread over them, every partition replicated on all
# three (R = 3); compare their deliveries per server CPU-second with o2o's and fanout's on one
# node, R = 1), o2o-5k and cluster-o2o-5k (o2o --rate 5000 on one node and on the three: the
# latency a replicated write adds), ceilings (qim-service-bench on the server core: the
# send path without sockets, and the bare store writes of o2o's records).
# TLS 1.3 (a throwaway self-signed P-256 certificate made with openssl in the work directory):
# tls-o2o, tls-idle, tls-login, and handshake / tls-handshake (connections set up per second,
# plaintext and TLS, each a full handshake).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir="$root/build-bench"
runs=3
duration=10
warmup=2
standard_set="o2o,o2o-contacts,o2o-acks,o2o-rate,fanout,fanout-rate,idle,login,cluster-o2o,cluster-fanout,o2o-5k,cluster-o2o-5k,ceilings"
tls_set="o2o,tls-o2o,tls-idle,handshake,tls-handshake"
only="$standard_set"
build=1
idle_connections=18000
server_core=0
generator_core=1
keep_json=""
baseline=""

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  cat <<EOF
Flags:
  --runs N              runs per workload (default $runs)
  --duration S          measured seconds per run (default $duration; login runs 2 x S)
  --warmup S            unmeasured seconds before (default $warmup)
  --only LIST           comma-separated workloads (default: the standard set)
  --set standard|tls    a named set of workloads (tls: $tls_set)
  --idle-connections N  (default $idle_connections)
  --quick               --runs 1 --duration 3 --warmup 1 --idle-connections 5000
  --no-build            use the binaries already in build-bench
  --keep-json FILE      also append every run's JSON to FILE
  --baseline QIMD       also run every workload against this qimd (named base-<workload>,
                        interleaved run by run) and print new/base ratios
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --set)
      case "$2" in
        standard) only="$standard_set" ;;
        tls) only="$tls_set" ;;
        *) echo "bench.sh: --set must be standard or tls, got '$2'" >&2; exit 2 ;;
      esac
      shift 2 ;;
    --idle-connections) idle_connections="$2"; shift 2 ;;
    --quick) runs=1; duration=3; warmup=1; idle_connections=5000; shift ;;
    --no-build) build=0; shift ;;
    --keep-json) keep_json="$2"; shift 2 ;;
    --baseline) baseline="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench.sh: unknown flag '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench.sh: --runs must be a positive integer" >&2; exit 2; }

if [[ $build -eq 1 ]]; then
  # BENCH_CMAKE_ARGS: extra configure arguments, e.g. -DCMAKE_CXX_FLAGS=...
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQIM_BUILD_TESTS=OFF \
    ${BENCH_CMAKE_ARGS:-} >/dev/null
  cmake --build "$build_dir" -j2 --target qimd qim-bench qimctl qim-service-bench
fi
service_bench="$build_dir/tools/service-bench/qim-service-bench"
qimd="$build_dir/src/node/qimd"
bench="$build_dir/tools/qim-bench/qim-bench"
qimctl="$build_dir/tools/qimctl/qimctl"
if [[ -n "$baseline" ]]; then
  [[ -x "$baseline" ]] || { echo "bench.sh: --baseline $baseline is not an executable" >&2; exit 2; }
  baseline=$(cd "$(dirname "$baseline")" && pwd)/$(basename "$baseline")
fi
server_binary="$qimd"  # the qimd the next start_node runs (the baseline's for base-* runs)
for binary in "$qimd" "$bench" "$qimctl"; do
  [[ -x "$binary" ]] || { echo "bench.sh: $binary is missing (build first)" >&2; exit 1; }
done

work=$(mktemp -d -t qim-bench.XXXXXX)
results="$work/results.jsonl"
: >"$results"
server_pids=()
server_ports=()
server_dirs=()

stop_server() {
  local pid
  for pid in "${server_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  server_pids=()
  server_ports=()
  server_dirs=()
}

# Store keys written per message stored, summed over the running nodes' /metrics (each
# replica counts the messages it applied, so this is per replica; set-up included).
store_keys_per_message() {
  python3 - "${server_dirs[@]}" <<'PY'
import re, sys, urllib.request
keys = stored = 0.0
for data in sys.argv[1:]:
    port = next(l.split()[1] for l in open(data + "/port") if l.startswith("http "))
    text = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
    for name, value in re.findall(r"^(qim_store_keys_written_total|qim_messages_stored_total) (\S+)$", text, re.M):
        if name == "qim_store_keys_written_total": keys += float(value)
        else: stored += float(value)
print("%.3f" % (keys / stored) if stored else "")
PY
}
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A fresh qimd (new data directory), pinned to the server core. Extra arguments go to qimd.
start_node() {
  local name="$1"
  shift
  local data="$work/data-$name"
  mkdir -p "$data"
  (
    ulimit -n "$(ulimit -Hn)"
    exec taskset -c "$server_core" "$server_binary" --listen 127.0.0.1:0 --port-file "$data/port" \
      --data-dir "$data/db" --threads 1 --pwhash-cost min --dm-policy anyone \
      --messages-per-second 1000000 --message-burst 10000000 --max-connections 100000 \
      --registrations-per-minute 1000000 \
      --log-level warn "$@"
  ) >"$data/qimd.log" 2>&1 &
  local pid=$!
  server_pids+=("$pid")
  server_dirs+=("$data")
  for _ in $(seq 1 100); do
    [[ -s "$data/port" ]] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -s "$data/port" ]]; then
    echo "bench.sh: qimd did not start; its log:" >&2
    cat "$data/qimd.log" >&2
    exit 1
  fi
  server_ports+=("$(head -n 1 "$data/port")")
}

start_server() {
  start_node "$@"
}

# The server certificate of the tls-* workloads: self-signed, for 127.0.0.1, made once per set.
tls_cert="$work/tls.pem"
tls_key="$work/tls.key"
make_tls_cert() {
  [[ -s "$tls_cert" ]] && return 0
  command -v openssl >/dev/null || { echo "bench.sh: the TLS workloads need openssl" >&2; exit 1; }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$tls_key" -out "$tls_cert" 2>"$work/openssl.log" ||
    { cat "$work/openssl.log" >&2; exit 1; }
}

# Three nodes sharing a cluster key, polled until every one sees all three alive and then until
# every partition has its three replicas and a leader (a new cluster spreads its replicas and
# leaderships first; a run started before that measures the spreading).
start_cluster() {
  local name="$1"
  local key="$work/cluster-$name.key"
  "$server_binary" --generate-cluster-key "$key" >/dev/null
  start_node "$name-n1" --node-name n1 --cluster-key-file "$key"
  local seed
  seed="127.0.0.1:$(sed -n 's/^gossip //p' "$work/data-$name-n1/port")"
  start_node "$name-n2" --node-name n2 --cluster-key-file "$key" --seed "$seed"
  start_node "$name-n3" --node-name n3 --cluster-key-file "$key" --seed "$seed"
  local node alive
  for _ in $(seq 1 300); do
    alive=0
    for node in n1 n2 n3; do
      if [[ $("$qimctl" --port-file "$work/data-$name-$node/port" \
                --data-dir "$work/data-$name-$node/db" members --json 2>/dev/null |
              grep -o '"state":"alive"' | wc -l) -eq 3 ]]; then
        alive=$((alive + 1))
      fi
    done
    [[ $alive -eq 3 ]] && break
    sleep 0.1
  done
  if [[ $alive -ne 3 ]]; then
    echo "bench.sh: the three nodes did not converge" >&2
    exit 1
  fi
  # Settled: fully replicated, every node leading some, and the same leaders for 16 s. The
  # leader balance moves a partition to its preferred leader at most every 15 s, in waves after
  # the cluster forms; a transfer during the run fails the sends it has in flight.
  local partitions layout previous="" stable=0
  for _ in $(seq 1 600); do
    partitions=$("$qimctl" --port-file "$work/data-$name-n1/port" --data-dir "$work/data-$name-n1/db" \
                   --json partitions 2>/dev/null || true)
    layout=$(grep -o '"leader":"[^"]*"' <<<"$partitions" | tr -d '\n')
    if [[ "$partitions" == *'"under_replicated":0,"leaderless":0,"nodes_answered":3'* &&
          $(grep -o '"leaders":[1-9]' <<<"$partitions" | wc -l) -eq 3 ]]; then
      if [[ "$layout" == "$previous" ]]; then
        stable=$((stable + 1))
        [[ $stable -ge 64 ]] && return 0
      else
        stable=0
      fi
    fi
    previous=$layout
    sleep 0.25
  done
  echo "bench.sh: the partitions of the three nodes did not settle: $partitions" >&2
  exit 1
}

run_workload() {
  local name="$1"
  shift
  local nodes=1
  if [[ "$name" == cluster-* ]]; then nodes=3; fi
  local args=("$@")
  local server_args=()
  if [[ "$name" == tls-* ]]; then
    make_tls_cert
    server_args=(--tls-cert "$tls_cert" --tls-key "$tls_key")
    args+=(--ca "$tls_cert")
  fi
  local seconds="$duration"
  echo "== $name: qim-bench ${args[*]} (${runs} runs, a fresh qimd each)" >&2
  local variants=("")
  [[ -n "$baseline" ]] && variants+=("base-")
  local variant bench_name
  for run in $(seq 1 "$runs"); do
    for variant in "${variants[@]}"; do
      bench_name="$variant$name"
      server_binary="$qimd"
      [[ -n "$variant" ]] && server_binary="$baseline"
      # A fresh server per run: freed memory is not returned to the OS, so a reused server
      # would under-report the idle workload's memory, and data from earlier runs would skew
      # the others.
      # Named per variant too: a cluster's key file and data directories are its own.
      if [[ $nodes -eq 3 ]]; then
        start_cluster "$bench_name-$run"
      else
        start_server "$bench_name-$run" "${server_args[@]}"
      fi
      local targets=()
      local port pid
      for port in "${server_ports[@]}"; do targets+=(--server "127.0.0.1:$port"); done
      for pid in "${server_pids[@]}"; do targets+=(--server-pid "$pid"); done
      local out="$work/$bench_name-$run.json"
      local status=0
      ulimit -n "$(ulimit -Hn)"
      timeout $((120 + 4 * ${seconds%.*})) taskset -c "$generator_core" "$bench" "${args[@]}" \
        "${targets[@]}" \
        --duration "$duration" --warmup "$warmup" --json >"$out" || status=$?
      local keys_per_message
      keys_per_message=$(store_keys_per_message 2>/dev/null || true)
      stop_server
      rm -rf "$work/data-$bench_name-$run" "$work"/data-"$bench_name-$run"-n?
      if [[ $status -ne 0 && $status -ne 3 ]]; then
        echo "bench.sh: $bench_name run $run failed (exit $status)" >&2
        continue
      fi
      [[ $status -eq 3 ]] && echo "bench.sh: $bench_name run $run: correctness checks FAILED" >&2
      python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["bench_name"]=sys.argv[2]; d.update({"store_keys_per_message": float(sys.argv[3])} if sys.argv[3] else {}); print(json.dumps(d))' \
        "$out" "$bench_name" "$keys_per_message" >>"$results"
      [[ -n "$keep_json" ]] && tail -n 1 "$results" >>"$keep_json"
      echo "   run $run done${variant:+ (baseline)}" >&2
    done
  done
  server_binary="$qimd"
}

# The same sends without the network, in one process on the server core.
run_ceilings() {
  echo "== ceilings: qim-service-bench (${runs} runs)" >&2
  [[ -x "$service_bench" ]] || { echo "bench.sh: $service_bench is missing" >&2; return; }
  local run name args
  for run in $(seq 1 "$runs"); do
    for name in store-o2o service-o2o service-fanout; do
      case "$name" in
        store-o2o) args=(--workload o2o --layer store --messages 100000) ;;
        service-o2o) args=(--workload o2o --layer service --messages 100000) ;;
        service-fanout) args=(--workload fanout --layer service --messages 10000) ;;
      esac
      taskset -c "$server_core" "$service_bench" "${args[@]}" --json |
        python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["bench_name"]=sys.argv[1]; print(json.dumps(d))' \
          "$name" >>"$results" || echo "bench.sh: $name run $run failed" >&2
      [[ -n "$keep_json" ]] && tail -n 1 "$results" >>"$keep_json"
    done
    echo "   run $run done" >&2
  done
}

IFS=',' read -r -a selected <<<"$only"
for name in "${selected[@]}"; do
  case "$name" in
    o2o) run_workload o2o o2o ;;
    o2o-acks) run_workload o2o-acks o2o --read-acks ;;
    o2o-rate) run_workload o2o-rate o2o --rate 20000 ;;
    fanout) run_workload fanout fanout ;;
    fanout-rate) run_workload fanout-rate fanout --rate 100 ;;
    idle) run_workload idle idle --connections "$idle_connections" ;;
    login) run_workload login login ;;
    tls-o2o) run_workload tls-o2o o2o ;;
    tls-idle) run_workload tls-idle idle --connections "$idle_connections" ;;
    tls-login) run_workload tls-login login ;;
    handshake) run_workload handshake handshake ;;
    tls-handshake) run_workload tls-handshake handshake ;;
    cluster-o2o) run_workload cluster-o2o o2o ;;
    cluster-fanout) run_workload cluster-fanout fanout ;;
    o2o-5k) run_workload o2o-5k o2o --rate 5000 ;;
    o2o-contacts) run_workload o2o-contacts o2o --contacts 10 ;;
    cluster-o2o-5k) run_workload cluster-o2o-5k o2o --rate 5000 ;;
    ceilings) run_ceilings ;;
    *) echo "bench.sh: unknown workload '$name'" >&2; exit 2 ;;
  esac
done

echo
echo "load average during the set: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share these cores)"
python3 - "$results" <<'EOF'
import json, statistics, sys

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
# workload -> [(figure, target)]
figures = {
    "o2o": [("deliveries_per_second", ">= 150000"), ("latency_p50_us", ""),
            ("latency_p99_us", ""), ("latency_p999_us", ""), ("latency_max_us", ""),
            ("ack_latency_p99_us", ""), ("deliveries_per_server_cpu_second", ""),
            ("server_cpu_percent", ""), ("generator_cpu_percent", ""),
            ("server_run_queue_wait_percent", ""), ("store_keys_per_message", "")],
    "o2o-contacts": [("deliveries_per_second", ""), ("latency_p99_us", ""),
                     ("deliveries_per_server_cpu_second", ""),
                     ("store_keys_per_message", "<= 1.2")],
    "o2o-acks": [("deliveries_per_second", ">= 100000"), ("latency_p50_us", ""),
                 ("latency_p99_us", ""), ("deliveries_per_server_cpu_second", ""),
                 ("server_cpu_percent", ""), ("generator_cpu_percent", ""),
                 ("server_run_queue_wait_percent", "")],
    "o2o-rate": [("deliveries_per_second", "20000"), ("latency_p50_us", ""),
                 ("latency_p99_us", "<= 1000"), ("latency_p999_us", "<= 3000"),
                 ("latency_max_us", ""), ("skipped", "0"), ("unacked", "0"),
                 ("server_cpu_percent", ""), ("generator_cpu_percent", ""),
            ("server_run_queue_wait_percent", "")],
    "fanout": [("deliveries_per_second", ">= 1000000"), ("sends_per_second", ""),
               ("latency_p50_us", ""), ("latency_p99_us", ""),
               ("latency_p999_us", ""), ("deliveries_per_server_cpu_second", ""),
               ("server_cpu_percent", ""), ("generator_cpu_percent", ""),
            ("server_run_queue_wait_percent", "")],
    "fanout-rate": [("deliveries_per_second", "49900"), ("latency_p50_us", ""),
                    ("latency_p99_us", "<= 5000"), ("latency_p999_us", ""),
                    ("latency_max_us", ""), ("server_cpu_percent", ""),
                    ("generator_cpu_percent", ""),
            ("server_run_queue_wait_percent", "")],
    "idle": [("server_rss_per_connection_bytes", "<= 1024"), ("connections_open", ""),
             ("server_rss_after_bytes", ""), ("server_cpu_percent", ""),
             ("server_run_queue_wait_percent", "")],
    "cluster-o2o": [("deliveries_per_second", ""), ("deliveries_per_server_cpu_second", ""),
                    ("latency_p50_us", ""), ("latency_p99_us", ""), ("server_cpu_percent", ""),
                    ("generator_cpu_percent", ""), ("store_keys_per_message", "")],
    "cluster-fanout": [("deliveries_per_second", ""), ("deliveries_per_server_cpu_second", ""),
                       ("latency_p50_us", ""), ("latency_p99_us", ""),
                       ("server_cpu_percent", ""), ("generator_cpu_percent", "")],
    "o2o-5k": [("deliveries_per_second", "5000"), ("latency_p50_us", ""),
               ("latency_p99_us", ""), ("latency_p999_us", ""), ("ack_latency_p99_us", ""),
               ("skipped", "0"), ("unacked", "0"), ("server_cpu_percent", "")],
    "cluster-o2o-5k": [("deliveries_per_second", "5000"), ("latency_p50_us", ""),
                       ("latency_p99_us", "<= 5000"), ("latency_p999_us", ""),
                       ("ack_latency_p99_us", ""), ("skipped", "0"), ("unacked", "0"),
                       ("server_cpu_percent", "")],
    "login": [("password_logins_per_second", ""), ("password_login_latency_p50_us", ""),
              ("password_login_latency_p99_us", ""), ("token_logins_per_second", ""),
              ("token_login_latency_p50_us", ""), ("token_login_latency_p99_us", ""),
              ("password_server_cpu_percent", ""), ("token_server_cpu_percent", ""),
              ("password_server_run_queue_wait_percent", "")],
    "tls-o2o": [("deliveries_per_second", ""), ("latency_p50_us", ""), ("latency_p99_us", ""),
                ("deliveries_per_server_cpu_second", ""), ("server_cpu_percent", ""),
                ("generator_cpu_percent", ""), ("server_run_queue_wait_percent", "")],
    "tls-idle": [("server_rss_per_connection_bytes", "<= 4096"), ("connections_open", ""),
                 ("server_rss_after_bytes", ""), ("server_cpu_percent", ""),
                 ("server_run_queue_wait_percent", "")],
    "tls-login": [("password_logins_per_second", ""), ("password_login_latency_p50_us", ""),
                  ("password_login_latency_p99_us", ""), ("token_logins_per_second", ""),
                  ("token_login_latency_p99_us", ""), ("password_server_cpu_percent", "")],
    "handshake": [("handshakes_per_second", ""), ("handshake_latency_p50_us", ""),
                  ("handshake_latency_p99_us", ""), ("server_cpu_percent", ""),
                  ("generator_cpu_percent", "")],
    "tls-handshake": [("handshakes_per_second", ""), ("handshake_latency_p50_us", ""),
                      ("handshake_latency_p99_us", ""), ("server_cpu_percent", ""),
                      ("generator_cpu_percent", "")],
    "store-o2o": [("messages_per_second", ""), ("cpu_microseconds_per_message", "")],
    "service-o2o": [("messages_per_second", ""), ("cpu_microseconds_per_message", "")],
    "service-fanout": [("messages_per_second", ""), ("cpu_microseconds_per_message", "")],
}
checks = ["lost", "duplicated", "out_of_order", "misrouted", "connections_closed_by_server", "failed"]

def fmt(value):
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"

print(f"{'workload':<12} {'figure':<34} {'median':>12} {'min..max':>27} {'target':>12}")
names = []
for workload in figures:
    names += [workload, "base-" + workload]
for name in names:
    workload = name[5:] if name.startswith("base-") else name
    wanted = figures[workload]
    runs = [r for r in rows if r.get("bench_name") == name]
    if not runs:
        continue
    for figure, target in wanted:
        values = [r[figure] for r in runs if isinstance(r.get(figure), (int, float))]
        if not values:
            continue
        low, high = min(values), max(values)
        print(f"{name:<12} {figure:<34} {fmt(statistics.median(values)):>12} "
              f"{fmt(low) + '..' + fmt(high):>27} {target:>12}")
    bad = {c: sum(r.get(c, 0) or 0 for r in runs) for c in checks}
    errors = sorted({r.get(k) for r in runs
                     for k in ("request_errors", "error_frames", "login_failures", "handshake_failures")
                     if r.get(k) not in (None, "none")})
    verdict = "all zero" if not any(bad.values()) else ", ".join(f"{k}={v}" for k, v in bad.items() if v)
    print(f"{name:<12} {'checks (' + str(len(runs)) + ' runs)':<34} {verdict:>12}"
          + (f"   errors: {'; '.join(errors)}" if errors else ""))

# The price of the cluster: deliveries per CPU-second of all three nodes against one node's.
def median_of(workload, figure):
    values = [r[figure] for r in rows if r.get("bench_name") == workload
              and isinstance(r.get(figure), (int, float))]
    return statistics.median(values) if values else None

# What the network and the protocol cost: the full o2o against the same sends in process.
full = median_of("o2o", "deliveries_per_server_cpu_second")
for layer in ("service-o2o", "store-o2o"):
    bound = median_of(layer, "messages_per_cpu_second")
    if full and bound:
        print(f"{'o2o':<12} {'per CPU-second vs ' + layer:<34} {full / bound:>12.2f}")

# What TLS costs: the same workload over TLS against plaintext, in the same set.
for plain, sealed, figure in (("o2o", "tls-o2o", "deliveries_per_second"),
                              ("o2o", "tls-o2o", "deliveries_per_server_cpu_second"),
                              ("handshake", "tls-handshake", "handshakes_per_second")):
    clear = median_of(plain, figure)
    tls = median_of(sealed, figure)
    if clear and tls:
        print(f"{sealed:<12} {figure + ' vs ' + plain:<34} {tls / clear:>12.2f}")

for single, cluster in (("o2o", "cluster-o2o"), ("fanout", "cluster-fanout")):
    one = median_of(single, "deliveries_per_server_cpu_second")
    three = median_of(cluster, "deliveries_per_server_cpu_second")
    if one and three:
        print(f"{cluster:<12} {'per CPU-second vs ' + single:<34} {three / one:>12.2f} "
              f"{'':>27} {'>= 0.35':>12}")

# Against the --baseline build: this build's median over the baseline's, per workload.
for workload in figures:
    for figure in ("deliveries_per_second", "deliveries_per_server_cpu_second"):
        new = median_of(workload, figure)
        base = median_of("base-" + workload, figure)
        if new and base:
            print(f"{workload:<12} {figure + ' vs baseline':<34} {new / base:>12.2f}")
EOF
