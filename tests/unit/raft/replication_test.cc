// Log replication: commit rules (figure 8), log matching, conflicts and fast backtracking, flow
// control, size limits, and what the leader refuses.
#include <catch2/catch.hpp>

#include <numeric>

#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

namespace {

void classic(Options& options) {
  options.pre_vote = false;
  options.check_quorum = false;
}

std::size_t rejections(const TestNetwork& network, NodeId from) {
  std::size_t count = 0;
  for (const Message& message : network.sent()) {
    if (message.type == MessageType::append_response && message.from == from && message.reject) {
      ++count;
    }
  }
  return count;
}

}  // namespace

TEST_CASE("proposals are committed and applied in order everywhere", "[raft][replication]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  network.propose(1, "b");
  REQUIRE(network.node(1).propose("c").ok());
  REQUIRE(network.node(1).propose("d").ok());
  network.stabilize();
  for (NodeId id : {1, 2, 3}) {
    CHECK(network.replica(id).applied_data == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(network.node(id).status().commit == 6);
  }
}

TEST_CASE("only the leader accepts proposals", "[raft][replication]") {
  TestNetwork network({1, 2, 3});
  Result<Index> before = network.node(1).propose("x");
  CHECK(before.error().code == qim::errc::wrong_node);
  network.elect(1);
  Result<Index> follower = network.node(2).propose("x");
  REQUIRE_FALSE(follower.ok());
  CHECK(follower.error().code == qim::errc::wrong_node);
  CHECK(follower.error().message.find("leader is 1") != std::string::npos);
  CHECK(network.node(2).propose_config_change({ConfigChangeKind::add_learner, 9}).error().code ==
        qim::errc::wrong_node);
}

TEST_CASE("figure 8: a leader commits entries of older terms only through one of its own",
          "[raft][replication]") {
  // The paper's figure 8 (indexes +1 and terms +1 for our bootstrap point): S1 leads term 5
  // with entry 3 of term 3 on S1, S2, S3; S5 has entry 3 of term 4.
  TestNetwork network({1, 2, 3, 4, 5}, classic);
  network.preset_log(1, {2, 3}, 4);
  network.preset_log(2, {2, 3}, 4);
  network.preset_log(3, {2, 3}, 4);
  network.preset_log(4, {2}, 4);
  network.preset_log(5, {2, 4}, 4);
  network.set_hold([](const Message& m) { return m.from == 1 && m.type == MessageType::append; });
  network.node(1).campaign();
  network.stabilize();
  REQUIRE(network.node(1).role() == Role::leader);
  const Term term = network.node(1).term();
  REQUIRE(term == 5);
  // S2 and S3 report that they hold entry 3 (of term 3): a majority has it, yet it is not
  // committed by counting, because it is not of the leader's term.
  for (NodeId follower : {2, 3}) {
    Message answer;
    answer.type = MessageType::append_response;
    answer.from = follower;
    answer.to = 1;
    answer.term = term;
    answer.index = 3;
    REQUIRE_FALSE(network.node(1).step(answer));
  }
  CHECK(network.node(1).status().commit == 1);

  SECTION("if the leader fails now, entry 3 may be overwritten, and that is safe") {
    network.crash(1);
    network.held().clear();
    network.heal();
    network.node(5).campaign();
    network.stabilize();
    REQUIRE(network.node(5).role() == Role::leader);
    const std::vector<Term> expected = {2, 4, network.node(5).term()};
    for (NodeId id : {2, 3, 4, 5})
      CHECK(network.log_terms(id) == expected);
  }
  SECTION("once an entry of its term is on a majority, everything before it commits") {
    for (NodeId follower : {2, 3}) {
      Message answer;
      answer.type = MessageType::append_response;
      answer.from = follower;
      answer.to = 1;
      answer.term = term;
      answer.index = 4;
      REQUIRE_FALSE(network.node(1).step(answer));
    }
    CHECK(network.node(1).status().commit == 4);
  }
}

TEST_CASE("a new leader repairs divergent followers, skipping whole terms", "[raft][replication]") {
  struct Case {
    const char* name;
    std::vector<Term> leader;
    std::vector<Term> follower;
    std::size_t max_rejections;
  };
  std::vector<Term> long_leader = {2, 2, 2};
  std::vector<Term> long_follower = {2, 2, 2};
  for (int i = 0; i < 20; ++i)
    long_leader.push_back(4);
  for (int i = 0; i < 30; ++i)
    long_follower.push_back(3);
  const std::vector<Case> cases = {
      {"follower behind", {2, 2, 3, 3, 3}, {2, 2}, 1},
      {"follower with a long tail of an old term", long_leader, long_follower, 2},
      // etcd's example of a follower whose divergent tail has terms above the leader's there.
      {"follower tail of higher terms",
       {2, 3, 3, 3, 3, 3, 3, 3, 7},
       {2, 3, 3, 4, 4, 5, 5, 5, 6},
       2},
      {"follower ahead in an old term", {2, 2}, {2, 2, 2, 2, 2, 2}, 1},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    TestNetwork network({1, 2, 3}, classic);
    const Term leader_term = c.leader.back();
    network.preset_log(1, c.leader, leader_term);
    network.preset_log(2, c.leader, leader_term);
    network.preset_log(3, c.follower, std::max(c.follower.back(), Term{2}));
    network.elect(1);
    network.clear_sent();
    network.propose(1, "after");
    network.tick(1);
    network.stabilize();
    const std::vector<Term> leader_log = network.log_terms(1);
    CHECK(network.log_terms(3) == leader_log);
    CHECK(network.replica(3).applied_index == network.replica(1).applied_index);
    CHECK(rejections(network, 3) <= c.max_rejections);
  }
}

TEST_CASE("a follower answers an append below its commit index with that index",
          "[raft][replication]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  network.clear_sent();
  Message append;
  append.type = MessageType::append;
  append.from = 1;
  append.to = 2;
  append.term = network.node(1).term();
  append.index = 1;
  append.log_term = kBootstrapTerm;
  REQUIRE_FALSE(network.node(2).step(append));
  network.process_readies();
  REQUIRE(network.count_sent(MessageType::append_response, 2, 1) == 1);
  CHECK(network.sent().back().index == 3);
  CHECK_FALSE(network.sent().back().reject);
}

TEST_CASE("a leader refuses a follower's claim to entries beyond its own log",
          "[raft][replication]") {
  // Only diverged logs (a broken safety property) produce such an answer; taking it would set
  // a match beyond the leader's log and probe that follower without end.
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.propose(1, "a");
  const Index last = network.node(1).status().last_index;
  const auto before = network.node(1).status().followers;
  network.clear_sent();
  Message answer;
  answer.type = MessageType::append_response;
  answer.from = 2;
  answer.to = 1;
  answer.term = network.node(1).term();
  answer.index = last + 5;
  const qim::Error error = network.node(1).step(answer);
  REQUIRE(error);
  CHECK(error.code == qim::errc::internal);
  network.process_readies();
  CHECK(network.sent().empty());
  const auto after = network.node(1).status().followers;
  REQUIRE(after.size() == before.size());
  for (std::size_t k = 0; k < after.size(); ++k) {
    CHECK(after[k].match == before[k].match);
    CHECK(after[k].match <= last);
  }
  // An answer within the log is taken as before.
  answer.index = last;
  CHECK_FALSE(network.node(1).step(answer));
}

TEST_CASE("replication is pipelined up to the in-flight window", "[raft][replication]") {
  TestNetwork network({1, 2, 3}, [](Options& options) {
    options.max_inflight_messages = 3;
    options.max_message_bytes = 1;  // one entry per append
  });
  network.elect(1);
  network.set_hold([](const Message& m) { return m.from == 1 && m.to == 2; });
  for (int i = 0; i < 8; ++i)
    REQUIRE(network.node(1).propose("p" + std::to_string(i)).ok());
  network.stabilize();
  std::size_t appends = 0;
  for (const Message& m : network.held())
    appends += m.type == MessageType::append;
  CHECK(appends == 3);
  auto followers = network.node(1).status().followers;
  REQUIRE(followers.size() == 2);
  CHECK(followers[0].state == ProgressState::replicate);
  CHECK(followers[0].paused);
  CHECK(followers[0].inflight_messages == 3);
  // Releasing the window lets the rest through.
  network.set_hold(nullptr);
  network.release_held();
  network.stabilize();
  CHECK(network.replica(2).applied_data.size() == 8);
}

TEST_CASE("a probing follower gets one append at a time", "[raft][replication]") {
  TestNetwork network({1, 2, 3}, [](Options& options) { options.max_message_bytes = 1; });
  network.elect(1);
  network.node(1).report_unreachable(2);
  CHECK(network.node(1).status().followers[0].state == ProgressState::probe);
  network.set_hold([](const Message& m) { return m.from == 1 && m.to == 2; });
  for (int i = 0; i < 5; ++i)
    REQUIRE(network.node(1).propose("p").ok());
  network.stabilize();
  std::size_t appends = 0;
  for (const Message& m : network.held())
    appends += m.type == MessageType::append;
  CHECK(appends == 1);
  network.set_hold(nullptr);
  network.release_held();
  network.stabilize();
  CHECK(network.node(1).status().followers[0].state == ProgressState::replicate);
  network.tick(1);
  network.stabilize();
  CHECK(network.replica(2).applied_data.size() == 5);
}

TEST_CASE("appends lost while pipelining are resent after a heartbeat shows no progress",
          "[raft][replication]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.set_drop([](const Message& m) { return m.to == 3 && m.type == MessageType::append; });
  for (int i = 0; i < 4; ++i)
    network.propose(1, "p" + std::to_string(i));
  CHECK(network.replica(3).applied_data.empty());
  network.heal();
  for (int i = 0; i < 3; ++i) {
    network.tick(1);
    network.stabilize();
  }
  CHECK(network.replica(3).applied_data.size() == 4);
}

TEST_CASE("appends carry at most max_message_bytes of entries (but at least one)",
          "[raft][replication]") {
  const std::size_t limit = 3 * (50 + kEntryOverheadBytes);
  TestNetwork network({1, 2, 3}, [&](Options& options) { options.max_message_bytes = limit; });
  network.elect(1);
  network.isolate(3);
  for (int i = 0; i < 10; ++i)
    network.propose(1, std::string(50, 'a' + i));
  REQUIRE(network.node(1).propose(std::string(500, 'z')).ok());
  network.stabilize();
  network.heal();
  network.clear_sent();
  for (int i = 0; i < 3; ++i) {
    network.tick(1);
    network.stabilize();
  }
  std::size_t checked = 0;
  for (const Message& m : network.sent()) {
    if (m.type != MessageType::append || m.to != 3 || m.entries.empty()) continue;
    std::size_t bytes = 0;
    for (const Entry& entry : m.entries)
      bytes += entry_bytes(entry);
    CHECK((bytes <= limit || m.entries.size() == 1));
    ++checked;
  }
  CHECK(checked >= 4);
  CHECK(network.replica(3).applied_data.size() == 11);
}

TEST_CASE("proposals beyond the uncommitted limit are refused", "[raft][replication]") {
  TestNetwork network({1, 2, 3}, [](Options& options) { options.max_uncommitted_bytes = 300; });
  network.elect(1);
  network.isolate(1);
  REQUIRE(network.node(1).propose(std::string(100, 'a')).ok());
  REQUIRE(network.node(1).propose(std::string(100, 'b')).ok());
  Result<Index> refused = network.node(1).propose(std::string(100, 'c'));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == qim::errc::rate_limited);
  network.heal();
  network.stabilize();
  network.tick(1);
  network.stabilize();
  CHECK(network.node(1).propose(std::string(100, 'c')).ok());
}

TEST_CASE("one proposal is accepted even beyond the limit when nothing is uncommitted",
          "[raft][replication]") {
  TestNetwork network({1}, [](Options& options) { options.max_uncommitted_bytes = 10; });
  network.elect(1);
  CHECK(network.node(1).propose(std::string(100, 'a')).ok());
}

TEST_CASE("misaddressed and malformed messages are refused", "[raft][replication]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  Message message;
  message.type = MessageType::append;
  message.from = 1;
  message.to = 3;
  message.term = network.node(1).term();
  message.index = 2;
  message.log_term = message.term;
  CHECK(network.node(2).step(message).code == qim::errc::invalid_argument);
  message.to = 2;
  message.from = 2;
  CHECK(network.node(2).step(message).code == qim::errc::invalid_argument);
  message.from = 1;
  message.entries = {Entry{message.term, 4, EntryKind::normal, "gap"}};
  CHECK(network.node(2).step(message).code == qim::errc::malformed);
  message.entries = {Entry{message.term + 1, 3, EntryKind::normal, "future term"}};
  CHECK(network.node(2).step(message).code == qim::errc::malformed);
  message.entries.clear();
  message.type = MessageType::heartbeat;
  message.entries = {Entry{message.term, 3, EntryKind::normal, "x"}};
  CHECK(network.node(2).step(message).code == qim::errc::malformed);
  Message snapshot;
  snapshot.type = MessageType::snapshot;
  snapshot.from = 1;
  snapshot.to = 2;
  snapshot.term = network.node(1).term();
  snapshot.snapshot = SnapshotMeta{5, snapshot.term, Configuration{{3, 1}, {}}};
  CHECK(network.node(2).step(snapshot).code == qim::errc::malformed);
}

TEST_CASE("a group of one commits on its own", "[raft][replication]") {
  TestNetwork network({1});
  network.elect(1);
  network.propose(1, "solo");
  CHECK(network.replica(1).applied_data == std::vector<std::string>{"solo"});
}
