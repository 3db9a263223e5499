#!/usr/bin/env bash
# Installs dependencies, builds qim, and runs a local cluster of three qimd nodes on loopback
# (client ports 7700, 7710, 7720, TLS 1.3 with a self-signed certificate; data, logs, the
# cluster key and the certificate under ./qim-cluster) until Ctrl-C, which stops the nodes
# (their data stays: running the script again brings the same cluster back).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQIM_BUILD_TESTS=OFF >/dev/null
cmake --build build --target qimd qim qimctl

root=qim-cluster
mkdir -p "$root"
[ -f "$root/cluster.key" ] || ./build/src/node/qimd --generate-cluster-key "$root/cluster.key"
# One certificate for the three nodes (they all listen on 127.0.0.1); clients trust it with
# --ca. A real deployment uses certificates from its own CA, or this with --tls-cert-host.
if [ ! -f "$root/node.pem" ]; then
  rm -f "$root/node.key"
  ./build/src/node/qimd --generate-tls-cert "$root/node.pem" "$root/node.key" \
    --tls-cert-host 127.0.0.1 --tls-cert-host localhost >/dev/null
fi

pids=()
# Every node stops (--shutdown stop: leaderships handed over, replicas kept for the next run).
stop_all() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

# start_node NAME PORT [SEED]: one node in the background, logging to $root/NAME.log.
start_node() {
  local name=$1 port=$2 seed=${3:-}
  local args=(--node-name "$name" --listen "127.0.0.1:$port" --data-dir "$root/$name"
              --cluster-key-file "$root/cluster.key" --port-file "$root/$name.port"
              --tls-cert "$root/node.pem" --tls-key "$root/node.key" --shutdown stop)
  [ -n "$seed" ] && args+=(--seed "$seed")
  rm -f "$root/$name.port"
  # A session of its own: Ctrl-C reaches this script only, which stops the nodes one by one.
  setsid ./build/src/node/qimd "${args[@]}" >"$root/$name.log" 2>&1 &
  pids+=($!)
  # The port file appears once the node serves.
  for _ in $(seq 1 100); do
    [ -s "$root/$name.port" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { cat "$root/$name.log"; exit 1; }
    sleep 0.1
  done
  echo "qimd $name did not start; see $root/$name.log" >&2
  exit 1
}

start_node n1 7700
start_node n2 7710 127.0.0.1:7701
start_node n3 7720 127.0.0.1:7701

cat <<TEXT

A cluster of three qimd nodes is running (logs in $root/n1.log, n2.log, n3.log), speaking
TLS 1.3 to clients with the certificate in $root/node.pem:
  n1 127.0.0.1:7700   n2 127.0.0.1:7710   n3 127.0.0.1:7720

Open two more terminals in $(pwd) and chat; each user is served by its home node, whichever
node the client connects to, and the two may well be on different nodes:

  terminal 1:  ./build/tools/qim/qim --server 127.0.0.1:7700 --ca $root/node.pem
               register alice secret-pass-1
               login -u alice -p secret-pass-1
               fadd bob

  terminal 2:  ./build/tools/qim/qim --server 127.0.0.1:7720 --ca $root/node.pem
               register bob secret-pass-2
               login -u bob -p secret-pass-2
               faccept alice
               send -r alice -m hello alice      (or: alice;;hello alice)

Cluster state:  ./build/tools/qimctl/qimctl --data-dir $root/n1 partitions   (also: members, online, stats)
Add a fourth node (in another terminal):
  ./build/src/node/qimd --node-name n4 --listen 127.0.0.1:7730 --data-dir $root/n4 \\
      --cluster-key-file $root/cluster.key --seed 127.0.0.1:7701 \\
      --tls-cert $root/node.pem --tls-key $root/node.key

Every partition is replicated on the three nodes: stop one (kill -9 is fine) and the other two
go on within seconds. Type 'help' in qim for every command. Ctrl-C here stops the three nodes;
run this script again to bring the same cluster back.

TEXT
wait "${pids[@]}"
