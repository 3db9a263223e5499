#include "cluster_support.h"

#include <regex>

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
                                          const ServerProcess* seed, const std::string& dm_policy,
                                          const std::vector<std::string>& extra_args) {
  ServerOptions options;
  options.node_name = name;
  options.dm_policy = dm_policy;
  options.extra_args = cluster_args(key_file);
  options.extra_args.insert(options.extra_args.end(), extra_args.begin(), extra_args.end());
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

bool wait_replicated(ServerProcess& node, std::size_t nodes, std::chrono::milliseconds timeout) {
  static const std::regex counts(
      R"re("under_replicated":([0-9]+),"leaderless":([0-9]+),"nodes_answered":([0-9]+))re");
  static const std::regex leader_field(R"re("leader":"([^"]*)")re");
  static const std::regex leaders(R"re("leaders":([0-9]+))re");
  // Settled: the same leader for every partition in two looks a second apart.
  std::string previous;
  auto previous_at = std::chrono::steady_clock::now();
  return eventually(
      [&] {
        CommandResult result = qimctl(node, {"--json", "partitions"});
        if (result.exit_code != 0) return false;
        std::smatch match;
        if (!std::regex_search(result.out, match, counts)) return false;
        if (match[1] != "0" || match[2] != "0" || std::stoul(match[3]) != nodes) return false;
        std::size_t leading = 0;
        for (std::sregex_iterator it(result.out.begin(), result.out.end(), leaders), end; it != end;
             ++it) {
          if ((*it)[1] != "0") ++leading;
        }
        if (leading != nodes) return false;
        std::string layout;
        for (std::sregex_iterator it(result.out.begin(), result.out.end(), leader_field), end;
             it != end; ++it) {
          layout += (*it)[1].str() + ",";
        }
        auto now = std::chrono::steady_clock::now();
        if (layout != previous) {
          previous = layout;
          previous_at = now;
          return false;
        }
        return now - previous_at >= std::chrono::seconds(1);
      },
      timeout, std::chrono::milliseconds(250));
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
