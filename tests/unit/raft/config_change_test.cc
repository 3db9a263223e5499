// Membership changes through the log: learners, promotion, removal (the leader's too), one change
// at a time, and restart.
#include <catch2/catch.hpp>

#include "replication/raft/codec.h"
#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

TEST_CASE("a learner receives the log but neither votes nor counts", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "before");
  network.add_empty_replica(4);
  network.change_config(1, ConfigChangeKind::add_learner, 4);
  for (NodeId id : {1, 2, 3, 4}) {
    CHECK(network.node(id).config().learners == std::vector<NodeId>{4});
    CHECK(network.node(id).config().voters == std::vector<NodeId>{1, 2, 3});
  }
  network.propose(1, "after");
  CHECK(network.replica(4).applied_data == std::vector<std::string>{"before", "after"});
  // With two voters down the learner does not make a quorum.
  network.crash(2);
  network.crash(3);
  const Index commit = network.node(1).status().commit;
  REQUIRE(network.node(1).propose("stuck").ok());
  network.stabilize();
  CHECK(network.node(1).status().commit == commit);
  CHECK(network.node(4).status().last_index == commit + 1);  // it has the entry, uncounted
}

TEST_CASE("a promoted learner votes and counts", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.add_empty_replica(4);
  network.change_config(1, ConfigChangeKind::add_learner, 4);
  network.change_config(1, ConfigChangeKind::promote, 4);
  for (NodeId id : {1, 2, 3, 4}) {
    CHECK(network.node(id).config().voters == std::vector<NodeId>{1, 2, 3, 4});
    CHECK(network.node(id).config().learners.empty());
  }
  // Four voters: a quorum is three, and 4 is one of them.
  network.crash(2);
  network.propose(1, "with 4");
  CHECK(network.replica(3).applied_data.back() == "with 4");
  network.crash(3);
  REQUIRE(network.node(1).propose("without quorum").ok());
  network.stabilize();
  CHECK(network.replica(4).applied_data.back() == "with 4");
}

TEST_CASE("configuration changes are one at a time", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.add_empty_replica(4);
  network.add_empty_replica(5);
  network.isolate(1);  // nothing commits
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::add_learner, 4}).ok());
  Result<Index> second = network.node(1).propose_config_change({ConfigChangeKind::add_learner, 5});
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().code == qim::errc::unavailable);
  CHECK(second.error().message.find("pending") != std::string::npos);
  network.heal();
  network.stabilize();
  network.tick(1);
  network.stabilize();
  CHECK(network.node(1).propose_config_change({ConfigChangeKind::add_learner, 5}).ok());
}

TEST_CASE("invalid configuration changes are refused", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  using K = ConfigChangeKind;
  for (ConfigChange bad :
       {ConfigChange{K::add_learner, 2}, ConfigChange{K::promote, 2}, ConfigChange{K::promote, 7},
        ConfigChange{K::remove, 7}, ConfigChange{K::add_learner, kNoNode}}) {
    Result<Index> result = network.node(1).propose_config_change(bad);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == qim::errc::invalid_argument);
  }
}

TEST_CASE("a new leader changes the configuration only after committing an entry of its term",
          "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.set_hold([](const Message& m) { return m.type == MessageType::append; });
  network.node(1).campaign();
  network.stabilize();
  REQUIRE(network.node(1).role() == Role::leader);
  Result<Index> early = network.node(1).propose_config_change({ConfigChangeKind::remove, 3});
  REQUIRE_FALSE(early.ok());
  CHECK(early.error().code == qim::errc::unavailable);
  network.set_hold(nullptr);
  network.release_held();
  network.stabilize();
  CHECK(network.node(1).propose_config_change({ConfigChangeKind::remove, 3}).ok());
}

TEST_CASE("a removed follower stops counting and never disrupts the group", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  network.change_config(1, ConfigChangeKind::remove, 3);
  CHECK(network.node(1).config().voters == std::vector<NodeId>{1, 2});
  CHECK(network.node(3).config().voters == std::vector<NodeId>{1, 2});
  network.propose(1, "two voters");
  CHECK(network.replica(3).applied_data.empty());
  // 3 knows it is out: it never campaigns, however long it waits.
  for (int i = 0; i < 100; ++i) {
    network.tick_all();
    network.deliver_all();
  }
  CHECK(network.node(1).role() == Role::leader);
  CHECK(network.node(1).term() == term);
  CHECK(network.count_sent(MessageType::pre_vote, 3) == 0);
}

TEST_CASE("a removed replica that missed its removal campaigns in vain", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  network.isolate(3);
  Result<Index> removal = network.node(1).propose_config_change({ConfigChangeKind::remove, 3});
  REQUIRE(removal.ok());
  network.stabilize();
  network.tick(1);
  network.stabilize();
  REQUIRE(network.node(1).config().voters == std::vector<NodeId>{1, 2});
  network.heal();
  network.clear_sent();
  // The leader no longer talks to 3; 3 still believes it votes and keeps pre-campaigning.
  for (int i = 0; i < 100; ++i) {
    network.tick_all();
    network.deliver_all();
  }
  CHECK(network.count_sent(MessageType::pre_vote, 3) > 0);
  CHECK(network.count_sent(MessageType::vote, 3) == 0);
  CHECK(network.node(1).role() == Role::leader);
  CHECK(network.node(1).term() == term);
  CHECK(network.node(2).term() == term);
}

TEST_CASE("a leader that removes itself steps down once the removal commits", "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::remove, 1}).ok());
  network.stabilize();
  CHECK(network.node(1).role() == Role::follower);
  // The others learned the commit (the final heartbeat) and one was told to campaign at once.
  network.stabilize();
  const std::optional<NodeId> leader = network.current_leader();
  REQUIRE(leader);
  CHECK(*leader != 1);
  for (NodeId id : {2, 3})
    CHECK(network.node(id).config().voters == std::vector<NodeId>{2, 3});
  network.propose(*leader, "b");
  CHECK(network.replica(2).applied_data == std::vector<std::string>{"a", "b"});
  CHECK(network.replica(3).applied_data == std::vector<std::string>{"a", "b"});
  // The old leader stays quiet.
  network.clear_sent();
  for (int i = 0; i < 60; ++i) {
    network.tick_all();
    network.deliver_all();
  }
  CHECK(network.count_sent(MessageType::pre_vote, 1) == 0);
  CHECK(network.node(*leader).role() == Role::leader);
}

TEST_CASE("after a voter is removed the smaller quorum commits", "[raft][config]") {
  TestNetwork network({1, 2, 3, 4});
  network.elect(1);
  network.crash(4);
  network.change_config(1, ConfigChangeKind::remove, 4);
  CHECK(network.node(1).config().voters == std::vector<NodeId>{1, 2, 3});
  // Two of four would not be a quorum; two of three is.
  network.crash(3);
  network.propose(1, "two of three");
  CHECK(network.replica(2).applied_data == std::vector<std::string>{"two of three"});
}

TEST_CASE("a restart re-derives the configuration from the snapshot and applied entries",
          "[raft][config]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.add_empty_replica(4);
  network.change_config(1, ConfigChangeKind::add_learner, 4);
  network.change_config(1, ConfigChangeKind::promote, 4);
  network.change_config(1, ConfigChangeKind::remove, 2);
  // The storage's snapshot point still holds the bootstrap configuration: the shell persisted
  // the applied index only, so the changes must come from the log.
  auto& replica = network.replica(3);
  replica.storage.set_snapshot(bootstrap_snapshot(Configuration{{1, 2, 3}, {}}));
  network.restart(3);
  CHECK(network.node(3).config().voters == std::vector<NodeId>{1, 3, 4});
  CHECK(network.node(3).config().learners.empty());
  // Applied less than the log holds: the unapplied change takes effect when handed out again.
  const Index applied_before = replica.applied_index;
  replica.applied_index = applied_before - 2;  // before the promotion and the removal
  replica.applied_config = Configuration{{1, 2, 3}, {4}};
  network.restart(3);
  CHECK(network.node(3).config().voters == std::vector<NodeId>{1, 2, 3});
  CHECK(network.node(3).config().learners == std::vector<NodeId>{4});
  network.tick(1);
  network.stabilize();
  CHECK(network.node(3).config().voters == std::vector<NodeId>{1, 3, 4});
  CHECK(replica.applied_index == applied_before);
}

TEST_CASE("a replica moves: add a learner, promote it, remove the old voter", "[raft][config]") {
  TestNetwork network({1});
  network.elect(1);
  network.propose(1, "solo");
  network.add_empty_replica(2);
  network.change_config(1, ConfigChangeKind::add_learner, 2);
  network.change_config(1, ConfigChangeKind::promote, 2);
  network.propose(1, "pair");
  CHECK(network.replica(2).applied_data == std::vector<std::string>{"solo", "pair"});
  // 1 leaves: it steps down and hands leadership to 2, now the only voter.
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::remove, 1}).ok());
  network.stabilize();
  REQUIRE(network.node(2).role() == Role::leader);
  CHECK(network.node(2).config().voters == std::vector<NodeId>{2});
  network.propose(2, "moved");
  CHECK(network.replica(2).applied_data.back() == "moved");
}
