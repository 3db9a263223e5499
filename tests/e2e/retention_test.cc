// History retention (qimd --retain-days) on a three-node cluster: the maintenance job of the
// conversation's leader trims messages older than the retention, every replica applies the trim
// (the history stays trimmed whichever node leads next), and the conversation's head is kept, so
// the next message gets the next seq, never a trimmed one. A fractional --retain-days (about
// four seconds) and a 200 ms maintenance interval make messages old within the test.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_support.h"
#include "e2e_support.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

using namespace std::chrono_literals;

// 0.00005 days: 4.32 s.
constexpr char retention_days[] = "0.00005";

std::vector<std::string> retention_args() {
  return {"--retain-days",
          retention_days,
          "--maintenance-interval-ms",
          "200",
          "--partitions",
          "16",
          "--raft-tick-ms",
          "50"};
}

// The conversation's history as `user` reads it through `via` (after any redirect to their
// home): the seqs it holds, or nullopt when the read failed (no leader yet, a node restarting).
std::optional<std::vector<std::uint64_t>> history_seqs(const ServerProcess& via,
                                                       const std::string& user,
                                                       const std::string& conversation) {
  ClientOptions options = test_client_options();
  options.request_timeout = 3s;
  Client client(options);
  if (!client.connect(via.host(), via.port())) return std::nullopt;
  if (!client.login(user, test_password, "reader")) return std::nullopt;
  auto page = client.history(conversation);
  if (!page) return std::nullopt;
  std::vector<std::uint64_t> seqs;
  for (const Message& message : page->messages)
    seqs.push_back(message.seq);
  return seqs;
}

}  // namespace

TEST_CASE("retention trims old history on every replica and never reuses a seq",
          "[retention][cluster]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  std::vector<std::unique_ptr<ServerProcess>> owned;
  owned.push_back(start_node("t1", key_file, nullptr, "anyone", retention_args()));
  owned.push_back(start_node("t2", key_file, owned[0].get(), "anyone", retention_args()));
  owned.push_back(start_node("t3", key_file, owned[0].get(), "anyone", retention_args()));
  std::vector<ServerProcess*> nodes = {owned[0].get(), owned[1].get(), owned[2].get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"t1", "t2", "t3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes[0], 3));
  auto node_named = [&](const std::string& name) -> ServerProcess* {
    for (ServerProcess* node : nodes) {
      if (node->node_name() == name) return node;
    }
    return nullptr;
  };
  auto a_running_node = [&](const ServerProcess* except) -> ServerProcess& {
    for (ServerProcess* node : nodes) {
      if (node != except && node->running()) return *node;
    }
    FAIL("no node is running");
    return *nodes[0];
  };

  register_user(*nodes[0], "ra");
  register_user(*nodes[0], "rb");
  const std::string conversation = "d:ra:rb";
  {
    auto alice = logged_in_client(*nodes[0], "ra");
    for (std::uint64_t expected = 1; expected <= 3; ++expected) {
      auto sent = alice->send_to_user("rb", "old " + std::to_string(expected));
      INFO((sent ? std::string() : sent.error().message));
      REQUIRE(sent);
      CHECK(sent->seq == expected);
    }
  }
  // Stored (the retention is seconds away, a read is milliseconds away)...
  auto stored = history_seqs(*nodes[1], "rb", conversation);
  REQUIRE(stored);
  CHECK(*stored == std::vector<std::uint64_t>{1, 2, 3});
  // ...then gone once older than the retention.
  REQUIRE(eventually(
      [&] {
        auto seqs = history_seqs(*nodes[2], "rb", conversation);
        return seqs && seqs->empty();
      },
      30s, 200ms));

  // The trim is on every replica: the history stays empty whichever node leads the conversation
  // next. Each round kills the leader (so another replica leads) and restarts it.
  std::set<std::string> led_trimmed;  // nodes seen leading while the history was empty
  led_trimmed.insert(partition_leader(*nodes[0], {conversation}));
  for (int round = 0; round < 3; ++round) {
    ServerProcess* leader = node_named(partition_leader(*nodes[0], {conversation}));
    REQUIRE(leader != nullptr);
    leader->kill();
    ServerProcess& entry = a_running_node(leader);
    std::string next_leader;
    bool trimmed = eventually(
        [&] {
          std::string before = partition_leader(entry, {conversation});
          if (before.empty() || before == leader->node_name()) return false;
          auto seqs = history_seqs(entry, "rb", conversation);
          if (!seqs) return false;
          INFO("history read through " << entry.node_name() << " while " << before << " led");
          CHECK(seqs->empty());
          if (partition_leader(entry, {conversation}) != before) return false;
          next_leader = before;
          return true;
        },
        60s, 200ms);
    REQUIRE(trimmed);
    led_trimmed.insert(next_leader);
    REQUIRE(leader->start());
    REQUIRE(wait_replicated(*leader, 3));
  }
  INFO("leaders that served the trimmed history: " << led_trimmed.size());
  CHECK(led_trimmed.size() >= 2);

  // The head is kept: the next message is seq 4, and the history holds it alone.
  {
    auto bob = logged_in_client(*nodes[1], "rb", "dev-2");
    auto sent = bob->send_to_user("ra", "new");
    INFO((sent ? std::string() : sent.error().message));
    REQUIRE(sent);
    CHECK(sent->seq == 4);
    CHECK_FALSE(sent->duplicate);
  }
  for (ServerProcess* node : nodes) {
    auto seqs = history_seqs(*node, "ra", conversation);
    INFO("through " << node->node_name());
    REQUIRE(seqs);
    // Trimmed again only once it is old too; read well within that.
    if (!seqs->empty()) CHECK(*seqs == std::vector<std::uint64_t>{4});
  }
}

}  // namespace qim::e2e
