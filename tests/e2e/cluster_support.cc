#include "cluster_support.h"

#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "qimctl_support.h"

namespace qim::e2e {

std::vector<std::string> cluster_args(const std::string& key_file) {
  return {"--cluster-key-file",      key_file, "--probe-interval-ms",  "200",
          "--probe-timeout-ms",      "100",    "--gossip-interval-ms", "50",
          "--push-pull-interval-ms", "2000"};
}

std::unique_ptr<ServerProcess> start_node(const std::string& name, const std::string& key_file,
                                          const ServerProcess* seed, const std::string& dm_policy) {
  ServerOptions options;
  options.node_name = name;
  options.dm_policy = dm_policy;
  options.extra_args = cluster_args(key_file);
  if (seed != nullptr) {
    options.extra_args.push_back("--seed");
    options.extra_args.push_back(seed->gossip_address());
  }
  return started_server(std::move(options));
}

bool all_see(const std::vector<ServerProcess*>& nodes, const std::set<std::string>& alive) {
  for (ServerProcess* node : nodes) {
    auto states = member_states(*node);
    if (!states) return false;
    std::set<std::string> seen;
    for (const auto& [name, state] : *states) {
      if (state == "alive") seen.insert(name);
    }
    if (seen != alive) return false;
  }
  return true;
}

ClientOptions reconnecting_options() {
  ClientOptions options = test_client_options();
  options.auto_reconnect = true;
  options.reconnect_backoff_initial = std::chrono::milliseconds(50);
  options.reconnect_backoff_max = std::chrono::milliseconds(500);
  return options;
}

std::string generated_cluster_key(const std::string& path) {
  CommandResult generated = run_command({qimd_path(), "--generate-cluster-key", path});
  INFO(generated.out << generated.err);
  REQUIRE(generated.exit_code == 0);
  return path;
}

}  // namespace qim::e2e
