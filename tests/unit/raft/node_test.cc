// The Node facade: what a Ready holds, advance(), steps between them, restarts, determinism.
#include <catch2/catch.hpp>

#include "replication/raft/memory_storage.h"
#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

TEST_CASE("an idle follower has nothing ready", "[raft][node]") {
  MemoryStorage storage(bootstrap_snapshot(Configuration{{1, 2, 3}, {}}), bootstrap_hard_state());
  Options options;
  options.id = 2;
  Node node(options, storage);
  CHECK_FALSE(node.has_ready());
  node.tick();
  CHECK_FALSE(node.has_ready());
  node.invariants();
}

TEST_CASE("a Ready carries the hard state only when it changed", "[raft][node]") {
  MemoryStorage storage(bootstrap_snapshot(Configuration{{1, 2, 3}, {}}), bootstrap_hard_state());
  Options options;
  options.id = 1;
  options.pre_vote = false;
  Node node(options, storage);
  node.campaign();
  REQUIRE(node.has_ready());
  Ready ready = node.ready();
  REQUIRE(ready.hard_state);
  CHECK(ready.hard_state->term == kBootstrapTerm + 1);
  CHECK(ready.hard_state->vote == 1);
  CHECK(ready.role_changed);
  CHECK(ready.messages.size() == 2);
  CHECK_FALSE(node.has_ready());  // a Ready is out
  storage.set_hard_state(*ready.hard_state);
  node.advance();
  CHECK_FALSE(node.has_ready());
  // A rejection changes nothing that is persisted.
  Message rejected;
  rejected.type = MessageType::vote_response;
  rejected.from = 2;
  rejected.to = 1;
  rejected.term = node.term();
  rejected.reject = true;
  REQUIRE_FALSE(node.step(rejected));
  CHECK_FALSE(node.has_ready());
}

TEST_CASE("steps between ready() and advance() go into the next Ready", "[raft][node]") {
  MemoryStorage storage(bootstrap_snapshot(Configuration{{1, 2}, {}}), bootstrap_hard_state());
  Options options;
  options.id = 2;
  Node node(options, storage);
  const Term term = kBootstrapTerm + 1;
  auto append = [&](Index previous, Term previous_term, std::vector<Entry> entries, Index commit) {
    Message message;
    message.type = MessageType::append;
    message.from = 1;
    message.to = 2;
    message.term = term;
    message.index = previous;
    message.log_term = previous_term;
    message.commit = commit;
    message.entries = std::move(entries);
    REQUIRE_FALSE(node.step(std::move(message)));
    node.invariants();
  };
  append(1, kBootstrapTerm, {{term, 2, EntryKind::normal, ""}, {term, 3, EntryKind::normal, "a"}},
         1);
  Ready first = node.ready();
  REQUIRE(first.entries.size() == 2);
  // While the shell writes them, more arrives, with a commit index covering entry 2.
  append(3, term, {{term, 4, EntryKind::normal, "b"}}, 2);
  CHECK_FALSE(node.has_ready());
  storage.append(std::move(first.entries));
  storage.set_hard_state(*first.hard_state);
  node.advance();
  REQUIRE(node.has_ready());
  Ready second = node.ready();
  REQUIRE(second.entries.size() == 1);
  CHECK(second.entries[0].index == 4);
  REQUIRE(second.committed_entries.size() == 1);
  CHECK(second.committed_entries[0].index == 2);
  REQUIRE(second.hard_state);
  CHECK(second.hard_state->commit == 2);
  CHECK(second.messages.size() == 1);
  storage.append(std::move(second.entries));
  node.advance();
  CHECK(node.status().applied == 2);
  CHECK(node.status().last_index == 4);
  node.invariants();
}

TEST_CASE("a restart from storage resumes exactly where the replica was", "[raft][node]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  for (int i = 0; i < 5; ++i)
    network.propose(1, "e" + std::to_string(i));
  network.add_empty_replica(4);
  REQUIRE(network.node(1).propose_config_change({ConfigChangeKind::add_learner, 4}).ok());
  network.stabilize();
  network.tick(1);
  network.stabilize();
  for (NodeId id : {1, 2, 3, 4}) {
    const Node::Status before = network.node(id).status();
    network.restart(id);
    const Node::Status after = network.node(id).status();
    CHECK(after.term == before.term);
    CHECK(after.vote == before.vote);
    CHECK(after.commit == before.commit);
    CHECK(after.applied == before.applied);
    CHECK(after.last_index == before.last_index);
    CHECK(after.config == before.config);
    CHECK(after.role == Role::follower);
  }
  // The group carries on.
  for (int i = 0; i < 60 && !network.current_leader(); ++i) {
    network.tick_all();
    network.deliver_all();
  }
  const std::optional<NodeId> leader = network.current_leader();
  REQUIRE(leader);
  network.propose(*leader, "after restart");
  for (NodeId id : {1, 2, 3, 4}) {
    CHECK(network.replica(id).applied_data.size() == 6);
  }
}

TEST_CASE("committed entries after the applied index are handed out again on restart",
          "[raft][node]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  for (int i = 0; i < 4; ++i)
    network.propose(1, "e" + std::to_string(i));
  auto& replica = network.replica(2);
  REQUIRE(replica.applied_index == 6);
  // The shell's state machine lost its last two applies (they were not persisted), and its
  // snapshot point is older still.
  replica.storage.set_snapshot(bootstrap_snapshot(Configuration{{1, 2, 3}, {}}));
  replica.applied_index = 4;
  replica.applied_term = network.node(1).term();
  replica.applied_data.resize(2);
  network.restart(2);
  REQUIRE(network.node(2).has_ready());
  Ready ready = network.node(2).ready();
  REQUIRE(ready.committed_entries.size() == 2);
  CHECK(ready.committed_entries[0].data == "e2");
  CHECK(ready.committed_entries[1].data == "e3");
}

TEST_CASE("a Ready hands out at most max_committed_bytes of committed entries", "[raft][node]") {
  TestNetwork network(
      {1}, [](Options& options) { options.max_committed_bytes = 2 * (10 + kEntryOverheadBytes); });
  network.elect(1);
  for (int i = 0; i < 5; ++i)
    REQUIRE(network.node(1).propose(std::string(10, 'a' + i)).ok());
  std::vector<std::size_t> sizes;
  Node& node = network.node(1);
  while (node.has_ready()) {
    Ready ready = node.ready();
    network.replica(1).storage.append(std::move(ready.entries));
    if (ready.hard_state) network.replica(1).storage.set_hard_state(*ready.hard_state);
    if (!ready.committed_entries.empty()) sizes.push_back(ready.committed_entries.size());
    node.advance();
  }
  CHECK(sizes == std::vector<std::size_t>{2, 2, 1});
}

TEST_CASE("the same inputs produce the same outputs", "[raft][node]") {
  auto run = [](std::uint64_t seed) {
    TestNetwork network({1, 2, 3, 4, 5}, {}, seed);
    network.set_drop([n = 0](const Message&) mutable { return ++n % 7 == 0; });
    for (int i = 0; i < 200; ++i) {
      network.tick_all();
      network.deliver_all();
      if (auto leader = network.current_leader(); leader && i % 10 == 0) {
        (void)network.node(*leader).propose("p" + std::to_string(i));
      }
    }
    std::vector<std::string> trace;
    for (const Message& m : network.sent())
      trace.push_back(to_string(m));
    return trace;
  };
  const auto first = run(42);
  CHECK(first.size() > 100);
  CHECK(run(42) == first);
  CHECK(run(43) != first);
}
