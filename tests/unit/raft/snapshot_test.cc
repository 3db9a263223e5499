// Snapshots: a follower behind the leader's compacted log gets one; newer, stale and lost
// snapshots; log truncation after install.
#include <catch2/catch.hpp>

#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

namespace {

void compact_everyone(TestNetwork& network, std::initializer_list<NodeId> ids) {
  for (NodeId id : ids) {
    network.compact(id, network.replica(id).applied_index + 1);
  }
}

}  // namespace

TEST_CASE("a follower behind the compacted log catches up from a snapshot", "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  for (int i = 0; i < 10; ++i)
    network.propose(1, "e" + std::to_string(i));
  compact_everyone(network, {1, 2});
  REQUIRE(network.replica(1).storage.first_index() > network.node(3).status().last_index + 1);
  network.heal();
  network.clear_sent();
  for (int i = 0; i < 3; ++i) {
    network.tick(1);
    network.stabilize();
  }
  CHECK(network.count_sent(MessageType::snapshot, 1, 3) == 1);
  CHECK(network.replica(3).applied_data == network.replica(1).applied_data);
  CHECK(network.replica(3).storage.snapshot().index >= 12);
  // Its log now starts after the snapshot point, and replication goes on from the log.
  network.propose(1, "after");
  CHECK(network.replica(3).applied_data.back() == "after");
  CHECK(network.node(1).status().followers[1].state == ProgressState::replicate);
}

TEST_CASE("a new learner starts from a snapshot, which may be newer than requested",
          "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  network.add_empty_replica(4);
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::add_learner, 4}).ok());
  network.stabilize();
  network.propose(1, "b");
  for (int i = 0; i < 3; ++i) {
    network.tick(1);
    network.stabilize();
  }
  REQUIRE(network.count_sent(MessageType::snapshot, 1, 4) >= 1);
  CHECK(network.replica(4).applied_data == std::vector<std::string>{"a", "b"});
  CHECK(network.node(4).config().learners == std::vector<NodeId>{4});
  CHECK(network.replica(4).storage.snapshot().index >= 4);
}

TEST_CASE("a stale snapshot is answered without being installed", "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  const Index commit = network.node(2).status().commit;
  network.clear_sent();
  Message snapshot;
  snapshot.type = MessageType::snapshot;
  snapshot.from = 1;
  snapshot.to = 2;
  snapshot.term = network.node(1).term();
  snapshot.snapshot = SnapshotMeta{commit - 1, snapshot.term, network.node(1).config()};
  REQUIRE_FALSE(network.node(2).step(snapshot));
  REQUIRE(network.node(2).has_ready());
  Ready ready = network.node(2).ready();
  CHECK_FALSE(ready.snapshot);
  REQUIRE(ready.messages.size() == 1);
  CHECK(ready.messages[0].type == MessageType::append_response);
  CHECK(ready.messages[0].index == commit);
  network.node(2).advance();
  CHECK(network.node(2).status().commit == commit);
}

TEST_CASE("a snapshot of entries the follower has only commits them", "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.set_drop([](const Message& m) { return m.to == 2 && m.type == MessageType::heartbeat; });
  network.set_hold([](const Message& m) {
    return m.from == 1 && m.to == 2 && m.type == MessageType::append && m.commit > 2;
  });
  network.propose(1, "a");  // 2 has entry 3 but has not learned that it is committed
  const Index last = network.node(2).status().last_index;
  REQUIRE(network.node(2).status().commit < last);
  Message snapshot;
  snapshot.type = MessageType::snapshot;
  snapshot.from = 1;
  snapshot.to = 2;
  snapshot.term = network.node(1).term();
  snapshot.snapshot = SnapshotMeta{last, network.node(1).term(), network.node(1).config()};
  REQUIRE_FALSE(network.node(2).step(snapshot));
  CHECK(network.node(2).status().commit == last);
  REQUIRE(network.node(2).has_ready());
  Ready ready = network.node(2).ready();
  CHECK_FALSE(ready.snapshot);
  REQUIRE(ready.committed_entries.size() == 1);
  CHECK(ready.committed_entries[0].data == "a");
}

TEST_CASE("a lost snapshot is sent again", "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  for (int i = 0; i < 5; ++i)
    network.propose(1, "e" + std::to_string(i));
  compact_everyone(network, {1, 2});
  network.heal();
  int lost = 0;
  network.set_drop([&](const Message& m) {
    if (m.type == MessageType::snapshot && lost < 2) {
      ++lost;
      return true;
    }
    return false;
  });
  for (int i = 0; i < 10; ++i) {
    network.tick(1);
    network.tick(3);
    network.deliver_all();
    network.stabilize();
  }
  CHECK(lost == 2);
  CHECK(network.count_sent(MessageType::snapshot, 1, 3) >= 3);
  CHECK(network.replica(3).applied_data == network.replica(1).applied_data);
}

TEST_CASE("no appends go to a follower while its snapshot is in flight", "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  for (int i = 0; i < 5; ++i)
    network.propose(1, "e" + std::to_string(i));
  compact_everyone(network, {1, 2});
  network.heal();
  network.set_hold([](const Message& m) { return m.type == MessageType::snapshot; });
  for (int i = 0; i < 3; ++i) {
    network.tick(1);
    network.stabilize();
  }
  REQUIRE(network.held().size() == 1);
  CHECK(network.node(1).status().followers[1].state == ProgressState::snapshot);
  network.clear_sent();
  network.propose(1, "during");
  CHECK(network.count_sent(MessageType::append, 1, 3) == 0);
  network.set_hold(nullptr);
  network.release_held();
  network.stabilize();
  network.tick(1);
  network.stabilize();
  CHECK(network.replica(3).applied_data.back() == "during");
}

TEST_CASE("a snapshot whose configuration lacks the receiver is refused", "[raft][snapshot]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.add_empty_replica(4);
  Message snapshot;
  snapshot.type = MessageType::snapshot;
  snapshot.from = 1;
  snapshot.to = 4;
  snapshot.term = network.node(1).term();
  snapshot.snapshot = SnapshotMeta{2, snapshot.term, network.node(1).config()};
  REQUIRE_FALSE(network.node(4).step(snapshot));
  REQUIRE(network.node(4).has_ready());
  Ready ready = network.node(4).ready();
  CHECK_FALSE(ready.snapshot);
  REQUIRE(ready.messages.size() == 1);
  CHECK(ready.messages[0].type == MessageType::append_response);
  CHECK(ready.messages[0].index == 0);
}
