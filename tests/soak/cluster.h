#pragma once
// The soak's qimd nodes on 127.0.0.1: fixed ports chosen below the ephemeral range (so a
// restarted node gets its port back and no client socket can take it meanwhile), one cluster
// key, data under the work directory, logs under the output directory. Process management
// only; which node is down is the nemesis's business.
//
// Thread: one (the soak's main thread and the nemesis's, never at once on one node: the
// nemesis owns the nodes while it runs).
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process.h"

namespace qim::soak {

struct ClusterOptions {
  std::string qimd_path;
  std::string qimctl_path;
  std::string work_dir;                 // data directories and the cluster key
  std::string log_dir;                  // <node>.log
  std::vector<std::string> extra_args;  // --qimd-arg, after the soak's own
  std::uint64_t seed = 1;               // picks the port block to try first
};

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

class SoakCluster {
 public:
  // Node slots: the initial members and the nodes that join later.
  static constexpr std::uint32_t max_nodes = 64;

  explicit SoakCluster(ClusterOptions options);
  ~SoakCluster();  // SIGKILLs every node still running
  SoakCluster(const SoakCluster&) = delete;
  SoakCluster& operator=(const SoakCluster&) = delete;

  // Generates the key, picks the ports and starts n1..n`nodes`, then waits until every node
  // lists them all alive.
  bool start(std::uint32_t nodes, std::chrono::milliseconds timeout, std::string& error);
  // Starts `name` (new, or a restart of a stopped one) seeded with the initial members.
  bool start_node(const std::string& name, std::string& error);
  // True once every node in `names` lists exactly `names` as its alive members.
  bool converged(const std::vector<std::string>& names);
  // True once every partition has a leader and all its replicas, as `names`' first node sees
  // it with exactly the nodes of `names` answering.
  bool replicated(const std::vector<std::string>& names);

  test_support::ServerProcess* find(const std::string& name);
  std::vector<std::string> initial_names() const;
  // Client endpoints of the initial members (their ports never change).
  std::vector<Endpoint> initial_endpoints() const;
  std::string log_path(const std::string& name) const;
  // Every node ever started, in start order.
  const std::vector<std::string>& names() const { return order_; }

 private:
  struct Node {
    std::uint16_t port = 0;
    std::unique_ptr<test_support::ServerProcess> process;
  };
  bool pick_ports(std::string& error);
  std::uint16_t port_of(const std::string& name);
  std::vector<std::string> seeds_for(const std::string& name) const;

  ClusterOptions options_;
  std::string key_file_;
  std::uint16_t base_port_ = 0;
  std::uint32_t initial_ = 0;
  std::uint32_t next_slot_ = 0;
  std::map<std::string, Node> nodes_;
  std::vector<std::string> order_;
};

}  // namespace qim::soak
