// Reach: users homed elsewhere are reached through the cluster, pushes batched one per home
// node, with the sender's own session excepted only for the sender.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "core/clock.h"
#include "service/reach.h"
#include "store/memory_kv.h"

namespace {

using namespace qim;
using service::PushTarget;

route::NodeInfo node(const std::string& name, std::uint16_t port) {
  return route::NodeInfo{name, "127.0.0.1", port, "127.0.0.1:" + std::to_string(port + 3)};
}

class FixedPlacement final : public service::PlacementSource {
 public:
  explicit FixedPlacement(std::shared_ptr<const route::Placement> placement)
      : placement_(std::move(placement)) {}
  std::shared_ptr<const route::Placement> placement() const override { return placement_; }

 private:
  std::shared_ptr<const route::Placement> placement_;
};

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
    tally.exists = existing_users.count(std::string(user)) == 1;
    tally.friends = 2;
    tally.groups = 1;
    return service::Result<service::UserTally>::success(tally);
  }
  std::vector<service::UserParts> user_parts_elsewhere(std::string_view,
                                                       service::UserPart) override {
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
  service::Accounts accounts{kv, clock, options};
  service::Reach reach{registry, accounts};
  std::shared_ptr<const route::Placement> placement = std::make_shared<route::Placement>(
      "n1", std::vector<route::NodeInfo>{node("n1", 7700), node("n2", 7710), node("n3", 7720)},
      cluster::RingOptions{}, 1);
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

TEST_CASE("reach: a single node pushes locally and never asks the cluster", "[reach]") {
  Fixture f;
  auto solo = std::make_shared<const route::Placement>(route::Placement::solo(node("n1", 7700)));
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
