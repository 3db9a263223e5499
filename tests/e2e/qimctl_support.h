#pragma once
// Running qimctl against a ServerProcess and reading its --json output, for the membership
// and qimctl scenarios. Polls have deadlines; no fixed sleeps.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_process.h"

namespace qim::e2e {

// qimctl with the node's port file and data directory (so its admin port and token), then
// `args`.
inline CommandResult qimctl(const ServerProcess& server, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {qimctl_path(), "--port-file",     server.port_file(),
                                   "--data-dir",  server.data_dir(), "--timeout-ms",
                                   "5000"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

// qimctl that must succeed; its output.
inline std::string qimctl_ok(const ServerProcess& server, const std::vector<std::string>& args) {
  CommandResult result = qimctl(server, args);
  INFO("qimctl " << server.node_name() << " stdout:\n" << result.out << "stderr:\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return result.out;
}

// name -> state from `qimctl --json members`; nullopt when qimctl failed.
inline std::optional<std::map<std::string, std::string>> member_states(
    const ServerProcess& server) {
  CommandResult result = qimctl(server, {"--json", "members"});
  if (!result.exit_code || *result.exit_code != 0) return std::nullopt;
  // The JSON is qimctl's own compact rendering: each member object starts with its name and
  // lists its state a few fields later.
  static const std::regex member(R"re(\{"name":"([^"]*)"[^{}]*"state":"([a-z]+)")re");
  std::map<std::string, std::string> states;
  for (std::sregex_iterator it(result.out.begin(), result.out.end(), member), end; it != end;
       ++it) {
    states[(*it)[1]] = (*it)[2];
  }
  return states;
}

// The leader of the partition holding `key` (as `qimctl where` takes it: "alice", "d:a:b",
// "group g1"), as `server` sees it; empty when none is known or qimctl failed.
inline std::string partition_leader(const ServerProcess& server,
                                    const std::vector<std::string>& key) {
  std::vector<std::string> args = {"--json", "where"};
  args.insert(args.end(), key.begin(), key.end());
  CommandResult result = qimctl(server, args);
  if (!result.exit_code || *result.exit_code != 0) return {};
  static const std::regex leader(R"re("leader":"([^"]*)")re");
  std::smatch match;
  return std::regex_search(result.out, match, leader) ? match[1].str() : std::string();
}

// Polls `condition` every `interval` until it holds (true) or `timeout` passed (false).
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds interval = std::chrono::milliseconds(50)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace qim::e2e
