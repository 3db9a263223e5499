// Quiescence: idle groups stop heartbeats and election timers without weakening the lease.
#include <catch2/catch.hpp>

#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

namespace {

// A three-replica group with 1 leading, quiet.
void quiet_group(TestNetwork& network) {
  network.elect(1);
  network.propose(1, "a");
  network.tick(1);
  network.stabilize();
  REQUIRE(network.node(1).can_quiesce());
  network.node(1).quiesce();
  network.stabilize();
  for (NodeId id : {1, 2, 3})
    REQUIRE(network.node(id).quiesced());
}

}  // namespace

TEST_CASE("only a caught-up, idle leader can go quiet", "[raft][quiescence]") {
  TestNetwork network({1, 2, 3});
  CHECK_FALSE(network.node(1).can_quiesce());  // not leader
  network.elect(1);
  network.tick(1);
  network.stabilize();
  CHECK(network.node(1).can_quiesce());
  CHECK_FALSE(network.node(2).can_quiesce());
  // A proposal not yet out, an entry not yet committed, a lagging follower, a transfer: no.
  REQUIRE(network.node(1).propose("x").ok());
  CHECK_FALSE(network.node(1).can_quiesce());
  network.isolate(3);
  network.stabilize();
  CHECK_FALSE(network.node(1).can_quiesce());
  network.heal();
  network.tick(1);
  network.stabilize();
  CHECK(network.node(1).can_quiesce());
  network.isolate(2);
  network.node(1).transfer_leadership(2);
  CHECK_FALSE(network.node(1).can_quiesce());
}

TEST_CASE("a quiet group sends nothing and elects nobody", "[raft][quiescence]") {
  TestNetwork network({1, 2, 3});
  quiet_group(network);
  const Term term = network.node(1).term();
  network.clear_sent();
  for (int i = 0; i < 200; ++i) {
    network.tick_all();
    network.deliver_all();
  }
  CHECK(network.sent().empty());
  CHECK(network.node(1).role() == Role::leader);
  CHECK(network.node(1).term() == term);
}

TEST_CASE("a proposal wakes the whole group", "[raft][quiescence]") {
  TestNetwork network({1, 2, 3});
  quiet_group(network);
  network.propose(1, "b");
  for (NodeId id : {1, 2, 3})
    CHECK_FALSE(network.node(id).quiesced());
  network.tick(1);
  network.stabilize();
  CHECK(network.replica(3).applied_data == std::vector<std::string>{"a", "b"});
  CHECK(network.node(1).can_quiesce());
}

TEST_CASE("the lease is not renewed while quiet", "[raft][quiescence]") {
  TestNetwork network({1, 2, 3});
  quiet_group(network);
  const std::optional<std::uint64_t> lease = network.node(1).lease_start_tick();
  REQUIRE(lease);
  network.tick_all(50);
  network.deliver_all();
  CHECK(network.node(1).lease_start_tick() == lease);
  // Waking renews it.
  network.node(1).wake();
  network.stabilize();
  CHECK(*network.node(1).lease_start_tick() == network.node(1).tick_count());
}

TEST_CASE("followers woken after the quiet leader died elect a new one", "[raft][quiescence]") {
  TestNetwork network({1, 2, 3});
  quiet_group(network);
  network.crash(1);
  for (int i = 0; i < 100; ++i) {
    network.tick(2);
    network.tick(3);
    network.deliver_all();
  }
  CHECK(network.node(2).role() == Role::follower);  // a quiet follower never times out alone
  CHECK(network.node(3).role() == Role::follower);
  network.node(2).wake();  // what the shell does when gossip says 1's node is dead
  network.node(3).wake();
  for (int i = 0; i < 60 && !network.current_leader(); ++i) {
    network.tick(2);
    network.tick(3);
    network.deliver_all();
  }
  REQUIRE(network.current_leader());
  CHECK(*network.current_leader() != 1);
}

TEST_CASE("a follower that missed the quiet heartbeat wakes the group, without a new term",
          "[raft][quiescence]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.tick(1);
  network.stabilize();
  network.set_drop([](const Message& m) { return m.to == 3 && m.type == MessageType::heartbeat; });
  network.node(1).quiesce();
  network.stabilize();
  network.heal();
  CHECK(network.node(1).quiesced());
  CHECK(network.node(2).quiesced());
  CHECK_FALSE(network.node(3).quiesced());
  const Term term = network.node(1).term();
  for (int i = 0; i < 40; ++i) {
    network.tick_all();
    network.deliver_all();
  }
  // 3 timed out; its pre-vote woke the leader, whose heartbeats brought it back.
  CHECK(network.node(1).role() == Role::leader);
  CHECK(network.node(1).term() == term);
  CHECK_FALSE(network.node(1).quiesced());
  CHECK(network.node(3).leader() == 1);
}
