// Leadership transfer: catch the target up, timeout_now, refuse proposals meanwhile, abort after
// an election timeout; and what it does to the lease.
#include <catch2/catch.hpp>

#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

TEST_CASE("leadership moves to an up-to-date follower at once", "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  const Term term = network.node(1).term();
  network.clear_sent();
  network.node(1).transfer_leadership(2);
  CHECK(network.node(1).status().transferring);
  network.stabilize();
  CHECK(network.count_sent(MessageType::timeout_now, 1, 2) == 1);
  CHECK(network.node(2).role() == Role::leader);
  CHECK(network.node(2).term() == term + 1);
  CHECK(network.node(1).role() == Role::follower);
  CHECK(network.node(1).leader() == 2);
  // The followers were in lease, but a transfer's campaign overrides it; no pre-vote was used.
  CHECK(network.count_sent(MessageType::pre_vote) == 0);
  network.propose(2, "b");
  CHECK(network.replica(1).applied_data == std::vector<std::string>{"a", "b"});
}

TEST_CASE("a lagging target is caught up before it is told to campaign", "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  for (int i = 0; i < 5; ++i)
    network.propose(1, "e" + std::to_string(i));
  network.heal();
  network.set_hold([](const Message& m) { return m.type == MessageType::timeout_now; });
  network.node(1).transfer_leadership(3);
  network.stabilize();
  network.tick(1);  // a heartbeat answer shows the lost appends: probe and catch up
  network.stabilize();
  REQUIRE(network.held().size() == 1);
  // When timeout_now went out, 3 had everything the leader had.
  CHECK(network.node(3).status().last_index == network.node(1).status().last_index);
  network.set_hold(nullptr);
  network.release_held();
  network.stabilize();
  CHECK(network.node(3).role() == Role::leader);
  CHECK(network.replica(3).applied_data.size() == 5);
}

TEST_CASE("proposals are refused while leadership is being transferred", "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  network.propose(1, "a");
  network.node(1).transfer_leadership(3);
  Result<Index> refused = network.node(1).propose("b");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == qim::errc::unavailable);
  CHECK(refused.error().message.find("transfer") != std::string::npos);
  CHECK(network.node(1).propose_config_change({ConfigChangeKind::remove, 2}).error().code ==
        qim::errc::unavailable);
}

TEST_CASE("a transfer that does not happen is aborted after an election timeout",
          "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  network.node(1).transfer_leadership(3);
  const int election_ticks = network.options_for(1).election_ticks;
  for (int i = 0; i < election_ticks - 1; ++i) {
    network.tick(1);
    network.tick(2);
    network.deliver_all();
  }
  CHECK(network.node(1).status().transferring);
  network.tick(1);
  CHECK_FALSE(network.node(1).status().transferring);
  CHECK(network.node(1).role() == Role::leader);
  CHECK(network.node(1).propose("after the abort").ok());
}

TEST_CASE("transfers to itself, to learners or to strangers are ignored", "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.add_empty_replica(4);
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::add_learner, 4}).ok());
  network.stabilize();
  for (NodeId target : {NodeId{1}, NodeId{4}, NodeId{9}}) {
    network.node(1).transfer_leadership(target);
    CHECK_FALSE(network.node(1).status().transferring);
  }
  network.node(2).transfer_leadership(3);  // not leader
  CHECK_FALSE(network.node(2).status().transferring);
}

TEST_CASE("a transfer to a removed target is aborted", "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::remove, 3}).ok());
  network.node(1).transfer_leadership(3);
  REQUIRE(network.node(1).status().transferring);
  network.stabilize();
  network.tick(1);
  network.stabilize();
  CHECK(network.node(1).config().voters == std::vector<NodeId>{1, 2});
  CHECK_FALSE(network.node(1).status().transferring);
}

TEST_CASE("no lease during a transfer, nor for the rest of the term after one",
          "[raft][transfer]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.tick(1);
  network.stabilize();
  REQUIRE(network.node(1).lease_start_tick());
  network.set_drop([](const Message& m) { return m.type == MessageType::timeout_now; });
  network.node(1).transfer_leadership(2);
  CHECK_FALSE(network.node(1).lease_start_tick());
  network.stabilize();
  // The timeout_now was lost here, but it might only have been delayed: it could still start an
  // election that overrides the followers' lease.
  for (int i = 0; i < network.options_for(1).election_ticks + 2; ++i) {
    network.tick(1);
    network.stabilize();
  }
  REQUIRE_FALSE(network.node(1).status().transferring);
  REQUIRE(network.node(1).role() == Role::leader);
  CHECK_FALSE(network.node(1).lease_start_tick());
}
