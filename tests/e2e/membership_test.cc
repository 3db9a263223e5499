// Cluster membership with real processes: five qimd nodes gossiping on loopback under one
// cluster key, observed through `qimctl --json members`.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "e2e_support.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

// Fast SWIM timings, so failure detection takes about a second rather than tens.
constexpr int probe_interval_ms = 200;
constexpr int probe_timeout_ms = 100;
constexpr int gossip_interval_ms = 50;
constexpr int push_pull_interval_ms = 2000;
constexpr int suspicion_multiplier = 4;
constexpr int suspicion_max_timeout_multiplier = 6;  // the core's default (Lifeguard)
constexpr int cluster_size = 5;

// The longest the survivors may take to declare a SIGKILLed member dead: a probe reaches it
// within a round over the members, the direct and indirect probes take one period, the
// suspicion runs at most its Lifeguard maximum, and the verdict spreads within a few gossip
// rounds. Doubled, for loaded machines and sanitizer builds.
std::chrono::milliseconds dead_detection_bound() {
  double suspicion_min_ms =
      suspicion_multiplier * std::log10(static_cast<double>(cluster_size)) * probe_interval_ms;
  double suspicion_max_ms = suspicion_max_timeout_multiplier * suspicion_min_ms;
  double bound_ms = cluster_size * probe_interval_ms + probe_interval_ms + suspicion_max_ms +
                    20 * gossip_interval_ms;
  return std::chrono::milliseconds(static_cast<long>(2 * bound_ms));
}

// Joining, restarting and spreading "left" need a few gossip and push-pull rounds.
constexpr auto convergence_timeout = std::chrono::seconds(20);

std::vector<std::string> node_args(const std::string& key_file) {
  return {"--cluster-key-file",      key_file,
          "--probe-interval-ms",     std::to_string(probe_interval_ms),
          "--probe-timeout-ms",      std::to_string(probe_timeout_ms),
          "--gossip-interval-ms",    std::to_string(gossip_interval_ms),
          "--push-pull-interval-ms", std::to_string(push_pull_interval_ms),
          "--suspicion-multiplier",  std::to_string(suspicion_multiplier)};
}

void generate_key(const std::string& path) {
  CommandResult result = run_command({qimd_path(), "--generate-cluster-key", path});
  INFO(result.out << result.err);
  REQUIRE(result.exit_code == 0);
}

}  // namespace

TEST_CASE(
    "five nodes see each other; a crash is seen dead, a restart alive, a leave left, and "
    "a node with another key is never admitted",
    "[membership]") {
  TempDir keys;
  REQUIRE(!keys.path().empty());
  std::string key_file = keys.file("cluster.key");
  std::string other_key_file = keys.file("other.key");
  generate_key(key_file);
  generate_key(other_key_file);

  std::vector<std::unique_ptr<ServerProcess>> nodes;
  for (int index = 0; index < cluster_size; ++index) {
    ServerOptions options;
    options.node_name = "m" + std::to_string(index + 1);
    options.extra_args = node_args(key_file);
    if (index > 0) {
      options.extra_args.push_back("--seed");
      options.extra_args.push_back(nodes.front()->gossip_address());
    }
    nodes.push_back(started_server(std::move(options)));
    REQUIRE(nodes.back()->gossip_port() != 0);
    REQUIRE(nodes.back()->admin_port() != 0);
  }

  // Every poll of a cluster member also checks that the outsider never shows up.
  const std::string outsider = "outsider";
  bool outsider_seen = false;
  // True when every node in `observers` lists every name of `expected` in its state.
  auto all_see = [&](const std::vector<ServerProcess*>& observers,
                     const std::map<std::string, std::string>& expected) {
    bool all = true;
    for (ServerProcess* observer : observers) {
      auto states = member_states(*observer);
      if (!states) return false;
      if (states->count(outsider) > 0) outsider_seen = true;
      for (const auto& [name, state] : expected) {
        auto found = states->find(name);
        if (found == states->end() || found->second != state) all = false;
      }
    }
    return all;
  };
  auto everyone = [&] {
    std::vector<ServerProcess*> all;
    for (auto& node : nodes)
      all.push_back(node.get());
    return all;
  };
  auto all_but = [&](std::initializer_list<int> excluded) {
    std::vector<ServerProcess*> rest;
    for (int index = 0; index < cluster_size; ++index) {
      if (std::find(excluded.begin(), excluded.end(), index) == excluded.end()) {
        rest.push_back(nodes[index].get());
      }
    }
    return rest;
  };
  std::map<std::string, std::string> all_alive;
  for (auto& node : nodes)
    all_alive[node->node_name()] = "alive";

  // 1. All five converge on five alive members.
  REQUIRE(eventually([&] { return all_see(everyone(), all_alive); }, convergence_timeout));

  // A sixth node with another cluster key tries to join through the first node's gossip
  // address for the rest of the test; its datagrams cannot be opened by the cluster.
  ServerOptions outsider_options;
  outsider_options.node_name = outsider;
  outsider_options.extra_args = node_args(other_key_file);
  outsider_options.extra_args.push_back("--seed");
  outsider_options.extra_args.push_back(nodes.front()->gossip_address());
  auto outsider_node = started_server(std::move(outsider_options));
  auto outsider_started = std::chrono::steady_clock::now();

  // 2. kill -9 of m5 is seen as dead by the other four within the suspicion bound.
  nodes[4]->kill();
  auto killed_at = std::chrono::steady_clock::now();
  std::map<std::string, std::string> m5_dead{{"m5", "dead"}};
  REQUIRE(eventually([&] { return all_see(all_but({4}), m5_dead); }, dead_detection_bound()));
  auto detection = std::chrono::steady_clock::now() - killed_at;
  INFO("dead after " << std::chrono::duration_cast<std::chrono::milliseconds>(detection).count()
                     << " ms");
  CHECK(detection <= dead_detection_bound());

  // 3. Restarted (same data directory and name, a new restart epoch), m5 is alive again
  // everywhere, itself included.
  REQUIRE(nodes[4]->start());
  REQUIRE(eventually([&] { return all_see(everyone(), all_alive); }, convergence_timeout));

  // 4. SIGTERM of m4: it leaves gracefully and exits 0; the others see "left", never "dead".
  REQUIRE(nodes[3]->stop());
  bool m4_seen_dead = false;
  REQUIRE(eventually(
      [&] {
        bool left_everywhere = true;
        for (ServerProcess* observer : all_but({3})) {
          auto states = member_states(*observer);
          if (!states) return false;
          if (states->count(outsider) > 0) outsider_seen = true;
          if ((*states)["m4"] == "dead") m4_seen_dead = true;
          if ((*states)["m4"] != "left") left_everywhere = false;
        }
        return left_everywhere;
      },
      convergence_timeout));
  CHECK_FALSE(m4_seen_dead);

  // 5. qimctl leave on m3: the same graceful path, answered first; the node exits 0.
  CommandResult leave = qimctl(*nodes[2], {"leave"});
  INFO(leave.out << leave.err);
  REQUIRE(leave.exit_code == 0);
  CHECK(leave.out.find("m3 is leaving") != std::string::npos);
  REQUIRE(nodes[2]->wait_exit(std::chrono::seconds(20)) == 0);
  std::map<std::string, std::string> m3_left{{"m3", "left"}, {"m4", "left"}};
  REQUIRE(eventually([&] { return all_see(all_but({2, 3}), m3_left); }, convergence_timeout));

  // 6. The outsider: over at least a few more probe periods, the remaining members never list
  // it and it sees nobody but itself.
  auto minimum_watch = std::chrono::milliseconds(5 * probe_interval_ms);
  auto watch_until = std::max(std::chrono::steady_clock::now() + minimum_watch,
                              outsider_started + 2 * minimum_watch);
  do {
    (void)all_see(all_but({2, 3}), {});
    auto own_view = member_states(*outsider_node);
    REQUIRE(own_view);
    CHECK(*own_view == std::map<std::string, std::string>{{outsider, "alive"}});
  } while (std::chrono::steady_clock::now() < watch_until);
  CHECK_FALSE(outsider_seen);
}

}  // namespace qim::e2e
