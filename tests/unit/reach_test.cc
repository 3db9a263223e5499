// Reach: users homed elsewhere are reached through the cluster, pushes batched one per home
// node, with the sender's own session excepted only for the sender.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/clock.h"
#include "service/inline_proposer.h"
#include "service/keys.h"
#include "service/reach.h"
#include "service/records.h"
#include "store/memory_kv.h"

#include "fixed_placement.h"

namespace {

using namespace qim;
using service::PushTarget;
using testing::FixedPlacement;
using testing::test_node;

// Records what the service asks of the other nodes.
class RecordingCluster final : public service::ClusterQueries {
 public:
  struct Push {
    std::string node;
    std::vector<std::uint8_t> frame;
    PushTarget target;
  };
  std::vector<Push> pushes;
  std::vector<std::string> tally_nodes;
  std::map<std::string, std::vector<std::string>> online_asked;
  std::set<std::string> online_users;  // who the other nodes say is online
  std::set<std::string> existing_users;
  std::set<std::string> known;               // what known_user() says yes to
  std::map<std::string, std::string> homes;  // user -> home node, for user_tallies
  std::set<std::string> silent_nodes;        // user_tallies fails there
  std::set<std::string> unreadable_nodes;    // they no longer lead the accounts' partitions
  std::map<std::string, std::vector<std::vector<std::string>>> tallies_asked;  // node -> calls

  void online_elsewhere(std::string, std::uint32_t,
                        std::function<void(std::vector<service::OnlinePage>)> done) override {
    done({});
  }
  void forward(const std::string&, const service::Caller&, std::span<const std::uint8_t>,
               std::function<void(service::Result<std::vector<std::uint8_t>>)> done) override {
    done(service::Result<std::vector<std::uint8_t>>::failure(errc::unavailable, "test"));
  }
  void push_to(const std::string& node, std::span<const std::uint8_t> frame,
               PushTarget target) override {
    pushes.push_back({node, {frame.begin(), frame.end()}, std::move(target)});
  }
  void run_serially(std::function<void()> work) override { work(); }
  service::Result<service::UserTally> user_tally(const std::string& node,
                                                 std::string_view user) override {
    tally_nodes.push_back(node);
    service::UserTally tally;
    tally.account_unreadable = unreadable_nodes.count(node) == 1;
    tally.exists = !tally.account_unreadable && existing_users.count(std::string(user)) == 1;
    tally.friends = 2;
    tally.groups = 1;
    return service::Result<service::UserTally>::success(tally);
  }
  service::Result<std::vector<service::UserTally>> user_tallies(
      const std::string& node, std::span<const std::string> users) override {
    tallies_asked[node].push_back(std::vector<std::string>(users.begin(), users.end()));
    if (silent_nodes.count(node) == 1) {
      return service::Result<std::vector<service::UserTally>>::failure(errc::unavailable, "silent");
    }
    std::vector<service::UserTally> tallies;
    for (const std::string& user : users) {
      service::UserTally tally;
      // Only the home holds the account; every node holds one group membership.
      tally.exists = existing_users.count(user) == 1 && homes.at(user) == node;
      tally.groups = 1;
      tallies.push_back(tally);
    }
    return service::Result<std::vector<service::UserTally>>::success(std::move(tallies));
  }
  bool known_user(std::string_view user) override { return known.count(std::string(user)) == 1; }
  std::vector<service::UserParts> user_parts_elsewhere(std::string_view, service::UserPart,
                                                       const service::PartitionCoverage&) override {
    return {};
  }
  service::Result<std::vector<std::string>> online_among(const std::string& node,
                                                         std::vector<std::string> users) override {
    online_asked[node] = users;
    std::vector<std::string> online;
    for (const std::string& user : users) {
      if (online_users.count(user) == 1) online.push_back(user);
    }
    return service::Result<std::vector<std::string>>::success(std::move(online));
  }
  service::Result<service::ConversationState> conversation_head(const std::string&,
                                                                std::string_view,
                                                                std::string_view) override {
    return service::Result<service::ConversationState>::failure(errc::unavailable, "test");
  }
};

struct Fixture {
  store::MemoryKv kv;
  core::ManualClock clock;
  service::Options options;
  service::SessionRegistry registry;
  route::Partitions partitions{16, cluster::HashKey{}};
  service::Keys keys{partitions};
  service::InlineProposer proposer{kv, partitions};  // nothing here proposes
  service::Accounts accounts{kv, keys, proposer, clock, options};
  service::Reach reach{registry, accounts};
  std::shared_ptr<const route::Placement> placement =
      std::make_shared<route::Placement>(testing::spread_placement(
          "n1", {test_node("n1", 7700), test_node("n2", 7710), test_node("n3", 7720)}));
  FixedPlacement source{placement};
  RecordingCluster cluster;

  Fixture() { reach.use_cluster(source, cluster); }
};

std::vector<std::string> users(int count) {
  std::vector<std::string> result;
  for (int i = 0; i < count; ++i)
    result.push_back("user" + std::to_string(i));
  return result;
}

}  // namespace

TEST_CASE("reach: a push to many users is one batch per other home node", "[reach]") {
  Fixture f;
  std::vector<std::string> everyone = users(60);
  const std::vector<std::uint8_t> frame = {8, 0, 0, 0, 1, 2, 3, 4};
  f.reach.push_each(
      everyone, [](const std::string& user) { return std::string_view(user); }, frame, "user7", 42);

  std::map<std::string, std::set<std::string>> expected;  // remote home -> its users
  for (const std::string& user : everyone) {
    const std::string& home = f.placement->home_of(user).name;
    if (home != "n1") expected[home].insert(user);
  }
  REQUIRE(expected.size() == 2);  // 60 users land on all three nodes
  REQUIRE(f.cluster.pushes.size() == 2);
  std::map<std::string, std::set<std::string>> sent;
  for (const auto& push : f.cluster.pushes) {
    CHECK(push.frame == frame);
    CHECK(push.target.except_user == "user7");
    CHECK(push.target.except_session == 42);
    CHECK(sent.count(push.node) == 0);  // one batch per node
    sent[push.node].insert(push.target.users.begin(), push.target.users.end());
    CHECK(sent[push.node].size() == push.target.users.size());  // no user twice
  }
  CHECK(sent == expected);
}

// Regression: pushes for users homed on a node declared dead were skipped without a trace, so
// the clients of a node that was only paused never heard of them. They go to the cluster, which
// counts them as lost for that node (node/cluster_calls.cc) so it can tell its sessions.
TEST_CASE("reach: a push for users of a down home still goes to the cluster", "[reach]") {
  Fixture f;
  auto n2 = test_node("n2", 7710);
  n2.up = false;
  f.placement = std::make_shared<route::Placement>(
      testing::spread_placement("n1", {test_node("n1", 7700), n2, test_node("n3", 7720)}, 2));
  f.source = FixedPlacement(f.placement);
  std::vector<std::string> everyone = users(60);
  const std::vector<std::uint8_t> frame = {8, 0, 0, 0, 1, 2, 3, 4};
  f.reach.push_each(
      everyone, [](const std::string& user) { return std::string_view(user); }, frame, "", 0);
  std::set<std::string> nodes;
  for (const auto& push : f.cluster.pushes)
    nodes.insert(push.node);
  CHECK(nodes == std::set<std::string>{"n2", "n3"});
}

TEST_CASE("reach: a single node pushes locally and never asks the cluster", "[reach]") {
  Fixture f;
  auto solo = std::make_shared<const route::Placement>(
      testing::spread_placement("n1", {test_node("n1", 7700)}));
  FixedPlacement alone(solo);
  service::Reach reach(f.registry, f.accounts);
  reach.use_cluster(alone, f.cluster);
  CHECK(reach.cluster_placement() == nullptr);
  const std::vector<std::uint8_t> frame = {8, 0, 0, 0, 1, 2, 3, 4};
  std::vector<std::string> everyone = users(20);
  CHECK(reach.push_each(
            everyone, [](const std::string& user) { return std::string_view(user); }, frame, "",
            0) == 0);  // nobody has a session
  CHECK(f.cluster.pushes.empty());
  CHECK(reach.exists("user3").code == errc::not_found);
  CHECK(f.cluster.tally_nodes.empty());
}

TEST_CASE("reach: existence is asked at the user's home, presence per home node", "[reach]") {
  Fixture f;
  std::vector<std::string> everyone = users(30);
  std::string remote;
  for (const std::string& user : everyone) {
    if (f.placement->home_of(user).name != "n1") {
      remote = user;
      break;
    }
  }
  REQUIRE_FALSE(remote.empty());
  CHECK(f.reach.exists(remote).code == errc::not_found);
  f.cluster.existing_users.insert(remote);
  CHECK_FALSE(f.reach.exists(remote));
  REQUIRE(f.cluster.tally_nodes.size() == 2);
  CHECK(f.cluster.tally_nodes.back() == f.placement->home_of(remote).name);

  auto tally = f.reach.tally_elsewhere(remote);
  REQUIRE(tally.ok());
  CHECK(tally.value.friends == 4);  // two other nodes, two each
  CHECK(tally.value.groups == 2);

  f.cluster.online_users = {everyone[0], everyone[5], everyone[9]};
  std::vector<bool> online = f.reach.online(everyone);
  for (std::size_t i = 0; i < everyone.size(); ++i) {
    bool local = f.placement->home_of(everyone[i]).name == "n1";
    INFO(everyone[i]);
    // Local users have no session here; remote ones are as their homes say.
    CHECK(online[i] == (!local && f.cluster.online_users.count(everyone[i]) == 1));
  }
  for (const auto& [node, asked] : f.cluster.online_asked) {
    for (const std::string& user : asked)
      CHECK(f.placement->home_of(user).name == node);
  }
  CHECK(f.cluster.online_asked.size() == 2);
}

TEST_CASE("reach: a user the cluster knows exists is not asked about again", "[reach]") {
  Fixture f;
  std::string remote;
  for (const std::string& user : users(30)) {
    if (f.placement->home_of(user).name != "n1") {
      remote = user;
      break;
    }
  }
  REQUIRE_FALSE(remote.empty());
  f.cluster.known.insert(remote);  // not in existing_users: asking would say no
  CHECK_FALSE(f.reach.exists(remote));
  CHECK(f.cluster.tally_nodes.empty());
}

TEST_CASE("reach: a group's new members are checked with one request per other node", "[reach]") {
  Fixture f;
  std::vector<std::string> everyone = users(40);
  for (const std::string& user : everyone)
    f.cluster.homes[user] = f.placement->home_of(user).name;
  // Every remote user exists but user5 (wherever it lives); local ones exist when registered.
  std::string local_user;
  for (const std::string& user : everyone) {
    if (user != "user5") f.cluster.existing_users.insert(user);
    if (local_user.empty() && f.cluster.homes[user] == "n1") local_user = user;
  }
  REQUIRE_FALSE(local_user.empty());
  // An account record, as a registration stores it.
  store::WriteBatch batch;
  batch.put(store::Column::accounts, f.keys.account(local_user),
            service::encode(service::AccountRecord{}));
  REQUIRE_FALSE(f.kv.write(batch, false));

  auto checks = f.reach.check_users(everyone);
  REQUIRE(checks.ok());
  REQUIRE(checks.value.size() == everyone.size());
  CHECK(f.cluster.tallies_asked.size() == 2);  // n2 and n3, once each, about everyone
  for (const auto& [node, calls] : f.cluster.tallies_asked) {
    CHECK(node != "n1");
    REQUIRE(calls.size() == 1);
    CHECK(calls[0] == everyone);
  }
  CHECK(f.cluster.tally_nodes.empty());  // never one user at a time
  for (std::size_t i = 0; i < everyone.size(); ++i) {
    const std::string& user = everyone[i];
    INFO(user);
    bool local = f.cluster.homes[user] == "n1";
    if (user == local_user || (!local && user != "user5")) {
      CHECK_FALSE(checks.value[i].exists);
    } else {
      CHECK(checks.value[i].exists.code == errc::not_found);
    }
    CHECK(checks.value[i].elsewhere.groups == 2);  // one at each other node
  }

  // A node that does not answer fails the whole check.
  f.cluster.silent_nodes.insert("n3");
  auto failed = f.reach.check_users(everyone);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error.code == errc::unavailable);
}

TEST_CASE("reach: known users keep the recent ones within two generations", "[reach]") {
  service::KnownUsers known(4);
  for (int i = 0; i < 4; ++i)
    known.add("u" + std::to_string(i));
  CHECK(known.contains("u0"));
  CHECK_FALSE(known.contains("nobody"));
  // A fifth starts a new generation; the old one is still consulted (and what is found
  // there moves up).
  known.add("u4");
  CHECK(known.contains("u4"));
  CHECK(known.contains("u1"));  // carried into the newer generation
  for (int i = 5; i < 7; ++i)
    known.add("u" + std::to_string(i));
  // The newer generation (u4, u1, u5, u6) fills: the older (u0..u3 less u1) is dropped.
  known.add("u7");
  CHECK_FALSE(known.contains("u0"));
  CHECK_FALSE(known.contains("u2"));
  CHECK(known.contains("u1"));
  CHECK(known.contains("u6"));
  CHECK(known.contains("u7"));
  CHECK(known.size() <= 8);
}

TEST_CASE("reach: a forgotten user is unknown in both generations", "[reach]") {
  service::KnownUsers known(2);
  known.add("old");
  known.add("u1");
  known.add("new");  // "old" and "u1" now in the older generation
  known.remove("old");
  known.remove("new");
  known.remove("nobody");  // harmless
  CHECK(known.size() == 1);
  CHECK_FALSE(known.contains("old"));
  CHECK_FALSE(known.contains("new"));
  CHECK(known.contains("u1"));
}

TEST_CASE("reach: a home that no longer leads the account's partition is not 'no such user'",
          "[reach]") {
  Fixture f;
  std::string remote;
  for (const std::string& user : users(30)) {
    if (f.placement->home_of(user).name != "n1") {
      remote = user;
      break;
    }
  }
  REQUIRE_FALSE(remote.empty());
  f.cluster.existing_users.insert(remote);
  f.cluster.unreadable_nodes.insert(f.placement->home_of(remote).name);
  CHECK(f.reach.exists(remote).code == errc::unavailable);
  f.cluster.unreadable_nodes.clear();
  CHECK_FALSE(f.reach.exists(remote));
}
