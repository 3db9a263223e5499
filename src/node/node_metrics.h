#pragma once
// What the operators' HTTP port answers (node/operator_http.h): every metric family of the
// node in the Prometheus text format, gathered on a scrape from the counters the modules keep
// apart from their logic (service, sessions, client connections, peer links, gossip,
// membership, the replica host, RocksDB), and the liveness and readiness probes.
//
// Owned by main; constructed after everything it reads and destroyed before. Thread-safe: the
// HTTP workers call it; it only reads counters and snapshots (the gossip counters are read on
// the control thread, with a bounded wait, by LocalAdmin).
#include <asio.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "net/client_listener.h"
#include "net/peer_links.h"
#include "node/cluster_peers.h"
#include "node/local_admin.h"
#include "node/membership_node.h"
#include "node/operator_http.h"
#include "replica/replica_host.h"
#include "service/im_service.h"
#include "store/rocks_kv.h"

namespace qim::node {

class NodeMetrics {
 public:
  struct Sources {
    service::ImService& service;
    const net::ClientListener& listener;
    const net::PeerLinks& peers;
    const ClusterPeers& cluster;
    LocalAdmin& local;
    const MembershipNode& membership;
    const replica::ReplicaHost& replicas;
    store::RocksKv& store;
    std::uint32_t partitions = 0;
    // Whether this node belongs to a cluster (it created or joined one), and whether it is
    // leaving or stopping.
    std::function<bool()> joined;
    std::function<bool()> draining;
    // The event loops /livez checks: each must run a posted no-op within live_timeout.
    std::vector<asio::any_io_executor> loops;
  };
  // A follower whose applied index trails its commit by more than this is not caught up.
  static constexpr std::uint64_t caught_up_entries = 64;
  static constexpr std::chrono::milliseconds live_timeout{2'000};

  explicit NodeMetrics(Sources sources) : sources_(std::move(sources)) {}

  std::string render();
  Probe live();
  Probe ready();

 private:
  Sources sources_;
};

}  // namespace qim::node
