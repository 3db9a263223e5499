#pragma once
// Starting small qimd clusters on loopback for the e2e tests (fast SWIM timings).
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cluster_process.h"
#include "qim/client.h"

namespace qim::e2e {

inline constexpr auto convergence_timeout = std::chrono::seconds(20);

// qimd flags for a test cluster sharing `key_file`: 200 ms probes, fast gossip.
std::vector<std::string> cluster_args(const std::string& key_file);
// A started cluster node named `name` (seeded from `seed` unless null), with `extra_args`
// appended; REQUIREs success.
std::unique_ptr<ServerProcess> start_node(const std::string& name, const std::string& key_file,
                                          const ServerProcess* seed,
                                          const std::string& dm_policy = "anyone",
                                          const std::vector<std::string>& extra_args = {});
// True once every node in `nodes` lists exactly `alive` as its alive members.
bool all_see(const std::vector<ServerProcess*>& nodes, const std::set<std::string>& alive);
// True once, as `node` sees the cluster, every partition has a leader and all its replicas,
// every one of `nodes` answered, and each of them leads at least one partition (leaderships have
// spread from the node that created the cluster). Polls until `timeout`.
bool wait_replicated(ServerProcess& node, std::size_t nodes,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));
// Client options that follow a pushed Redirect (a user whose home moved) by reconnecting.
ClientOptions reconnecting_options();
// A fresh cluster key file in `dir`; REQUIREs success.
std::string generated_cluster_key(const std::string& path);

}  // namespace qim::e2e
