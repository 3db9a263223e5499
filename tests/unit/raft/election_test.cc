// Elections: votes, PreVote under partition, CheckQuorum, leases, stale logs, restarts.
#include <catch2/catch.hpp>

#include "tests/unit/raft/test_network.h"

using namespace qim::replication::raft;
using qim::replication::raft::testing::TestNetwork;

namespace {

void classic(Options& options) {
  options.pre_vote = false;
  options.check_quorum = false;
}

}  // namespace

TEST_CASE("a candidate with a quorum of votes becomes leader", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  CHECK(network.node(1).term() == kBootstrapTerm + 1);
  CHECK(network.node(2).role() == Role::follower);
  CHECK(network.node(2).leader() == 1);
  CHECK(network.node(3).leader() == 1);
  // The no-op of the new term is committed and applied everywhere.
  for (NodeId id : {1, 2, 3}) {
    CHECK(network.node(id).status().commit == 2);
    CHECK(network.replica(id).applied_index == 2);
  }
}

TEST_CASE("elections need a quorum of voters", "[raft][election]") {
  struct Case {
    std::vector<NodeId> voters;
    std::vector<NodeId> down;
    bool wins;
  };
  const std::vector<Case> cases = {
      {{1}, {}, true},
      {{1, 2}, {}, true},
      {{1, 2}, {2}, false},
      {{1, 2, 3}, {3}, true},
      {{1, 2, 3}, {2, 3}, false},
      {{1, 2, 3, 4}, {4}, true},
      {{1, 2, 3, 4}, {3, 4}, false},
      {{1, 2, 3, 4, 5}, {4, 5}, true},
      {{1, 2, 3, 4, 5}, {3, 4, 5}, false},
  };
  for (bool pre_vote : {false, true}) {
    for (const Case& c : cases) {
      INFO("voters " << c.voters.size() << " down " << c.down.size() << " pre_vote " << pre_vote);
      TestNetwork network(c.voters, [&](Options& options) { options.pre_vote = pre_vote; });
      for (NodeId id : c.down)
        network.crash(id);
      network.node(1).campaign();
      network.stabilize();
      CHECK((network.node(1).role() == Role::leader) == c.wins);
      if (!c.wins) {
        // A failed pre-vote leaves the term alone; a failed election raised it.
        CHECK(network.node(1).term() == kBootstrapTerm + (pre_vote ? 0 : 1));
      }
    }
  }
}

TEST_CASE("one vote per term, remembered across a restart", "[raft][election]") {
  TestNetwork network({1, 2, 3}, classic);
  network.isolate(3);
  network.node(1).campaign();  // 2 votes for 1 in term 2
  network.stabilize();
  REQUIRE(network.node(1).role() == Role::leader);
  REQUIRE(network.node(2).status().vote == 1);
  // 2 restarts; 3 campaigns in the same term 2 (its term is still 1, so it moves to 2).
  network.restart(2);
  network.heal();
  network.isolate(1);
  network.node(3).campaign();
  network.stabilize();
  CHECK(network.node(3).role() != Role::leader);
  CHECK(network.node(2).status().vote == 1);
  CHECK(network.leader_of_term(2) == 1);
}

TEST_CASE("a candidate whose log is behind cannot win", "[raft][election]") {
  // Entries at indexes 2.. with these terms; 1 has the most up-to-date log.
  TestNetwork network({1, 2, 3}, classic);
  network.preset_log(1, {2, 2, 3}, 3);
  network.preset_log(2, {2, 2}, 3);
  network.preset_log(3, {2}, 3);
  // 3's log is behind both others': both refuse.
  network.node(3).campaign();
  network.stabilize();
  CHECK(network.node(3).role() != Role::leader);
  network.node(1).campaign();
  network.stabilize();
  REQUIRE(network.node(1).role() == Role::leader);
  // The leader's log wins: everyone ends with it, and the older entries are committed now.
  const std::vector<Term> expected = {2, 2, 3, network.node(1).term()};
  for (NodeId id : {1, 2, 3})
    CHECK(network.log_terms(id) == expected);
  CHECK(network.node(2).status().commit == 5);
}

TEST_CASE("PreVote keeps a partitioned replica from raising its term", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  network.isolate(3);
  // Far beyond any election timeout: 3 keeps pre-campaigning, and failing.
  for (int i = 0; i < 100; ++i) {
    network.tick(3);
    network.deliver_all();
  }
  CHECK(network.node(3).term() == term);
  CHECK(network.node(3).role() == Role::pre_candidate);
  network.heal();
  // Back in the group, 3 hears from the leader again and nothing was disrupted.
  for (int i = 0; i < 3; ++i) {
    network.tick(1);
    network.stabilize();
  }
  CHECK(network.node(1).role() == Role::leader);
  CHECK(network.node(1).term() == term);
  CHECK(network.node(3).role() == Role::follower);
  CHECK(network.node(3).leader() == 1);
}

TEST_CASE("without PreVote a partitioned replica disrupts the group when it returns",
          "[raft][election]") {
  TestNetwork network({1, 2, 3}, classic);
  network.elect(1);
  const Term term = network.node(1).term();
  network.isolate(3);
  for (int i = 0; i < 100; ++i) {
    network.tick(3);
    network.deliver_all();
  }
  CHECK(network.node(3).term() > term + 3);
  network.heal();
  // 3's next election reaches the others with its higher term: the leader steps down.
  for (int i = 0; i < 30 && network.node(1).term() == term; ++i) {
    network.tick_all();
    network.deliver_all();
  }
  CHECK(network.node(1).term() > term + 3);
  CHECK(network.leader_of_term(network.node(1).term()) != 1);
}

TEST_CASE("PreVote and CheckQuorum let an isolated old leader rejoin quietly", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(1);
  // 2 and 3 stop hearing from 1 and elect one of them; 1 steps down after an election timeout.
  for (int i = 0; i < 60; ++i) {
    network.tick_all();
    network.deliver_all();
    if (network.node(2).role() == Role::leader || network.node(3).role() == Role::leader) break;
  }
  const NodeId new_leader = network.node(2).role() == Role::leader ? 2 : 3;
  REQUIRE(network.node(new_leader).role() == Role::leader);
  for (int i = 0; i < 20; ++i)
    network.tick(1);
  CHECK(network.node(1).role() != Role::leader);
  const Term term = network.node(new_leader).term();
  network.heal();
  for (int i = 0; i < 5; ++i) {
    network.tick(new_leader);
    network.stabilize();
  }
  CHECK(network.node(new_leader).role() == Role::leader);
  CHECK(network.node(new_leader).term() == term);
  CHECK(network.node(1).leader() == new_leader);
}

TEST_CASE("CheckQuorum: a leader that cannot hear a quorum steps down", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(1);
  const int election_ticks = network.options_for(1).election_ticks;
  for (int i = 0; i < election_ticks - 1; ++i)
    network.tick(1);
  CHECK(network.node(1).role() == Role::leader);
  // The first check finds the followers active (they answered the election); the second not.
  for (int i = 0; i < election_ticks; ++i)
    network.tick(1);
  CHECK(network.node(1).role() == Role::leader);
  network.tick(1);
  CHECK(network.node(1).role() == Role::follower);
  CHECK(network.node(1).leader() == kNoNode);
}

TEST_CASE("a leader hearing from a quorum stays leader", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.isolate(3);
  for (int i = 0; i < 50; ++i) {
    network.tick(1);
    network.tick(2);
    network.deliver_all();
  }
  CHECK(network.node(1).role() == Role::leader);
}

TEST_CASE("followers in lease ignore votes and keep their term", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  network.clear_sent();
  // A vote request for a higher term (as from a replica that ran ahead without PreVote).
  Message vote;
  vote.type = MessageType::vote;
  vote.from = 3;
  vote.to = 2;
  vote.term = term + 5;
  vote.index = 100;
  vote.log_term = term;
  REQUIRE_FALSE(network.node(2).step(vote));
  network.process_readies();
  CHECK(network.node(2).term() == term);
  CHECK(network.count_sent(MessageType::vote_response, 2) == 0);
  // Once the lease has run out (election_ticks without hearing from the leader), it votes.
  network.isolate(2);
  for (int i = 0; i < network.options_for(2).election_ticks; ++i)
    network.tick(2);
  network.heal();
  if (network.node(2).role() == Role::follower) {
    REQUIRE_FALSE(network.node(2).step(vote));
    network.process_readies();
    CHECK(network.node(2).term() == term + 5);
    CHECK(network.node(2).status().vote == 3);
  }
}

TEST_CASE("a late answer to an old campaign does not end a follower's lease", "[raft][election]") {
  // Found by the simulator's lease check: a follower that pre-campaigned, then heard from the
  // leader, got the rejection of its pre-vote carrying a higher term, moved to that term without
  // a leader, and voted there while the leader still counted on it.
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  Message rejection;
  rejection.type = MessageType::pre_vote_response;
  rejection.from = 3;
  rejection.to = 2;
  rejection.term = term + 1;
  rejection.reject = true;
  REQUIRE_FALSE(network.node(2).step(rejection));
  CHECK(network.node(2).term() == term);
  CHECK(network.node(2).leader() == 1);
  rejection.type = MessageType::append_response;
  REQUIRE_FALSE(network.node(2).step(rejection));
  CHECK(network.node(2).term() == term);
  // A leader of the higher term is another matter.
  Message heartbeat;
  heartbeat.type = MessageType::heartbeat;
  heartbeat.from = 3;
  heartbeat.to = 2;
  heartbeat.term = term + 1;
  REQUIRE_FALSE(network.node(2).step(heartbeat));
  CHECK(network.node(2).term() == term + 1);
  CHECK(network.node(2).leader() == 3);
}

TEST_CASE("a restarted replica keeps the lease it may have promised", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  network.restart(2);
  Message vote;
  vote.type = MessageType::vote;
  vote.from = 3;
  vote.to = 2;
  vote.term = term + 1;
  vote.index = 100;
  vote.log_term = term;
  REQUIRE_FALSE(network.node(2).step(vote));
  CHECK(network.node(2).term() == term);
  network.isolate(2);
  for (int i = 0; i < network.options_for(2).election_ticks; ++i)
    network.node(2).tick();
  network.heal();
  REQUIRE_FALSE(network.node(2).step(vote));
  CHECK(network.node(2).term() == term + 1);
}

TEST_CASE("learners never campaign and their votes do not count", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  network.add_empty_replica(4);
  network.change_config(1, ConfigChangeKind::add_learner, 4);
  REQUIRE(network.node(4).config().learners == std::vector<NodeId>{4});
  network.isolate(4);
  for (int i = 0; i < 100; ++i)
    network.tick(4);
  CHECK(network.node(4).role() == Role::follower);
  network.node(4).campaign();
  CHECK(network.node(4).role() == Role::follower);
  CHECK(network.count_sent(MessageType::pre_vote, 4) == 0);
  CHECK(network.count_sent(MessageType::vote, 4) == 0);
}

TEST_CASE("duplicate vote answers are counted once", "[raft][election]") {
  TestNetwork network({1, 2, 3, 4, 5}, classic);
  network.node(1).campaign();
  network.process_readies();
  const Term term = network.node(1).term();
  Message granted;
  granted.type = MessageType::vote_response;
  granted.from = 2;
  granted.to = 1;
  granted.term = term;
  for (int i = 0; i < 3; ++i)
    REQUIRE_FALSE(network.node(1).step(granted));
  CHECK(network.node(1).role() == Role::candidate);
  granted.from = 3;
  REQUIRE_FALSE(network.node(1).step(granted));
  CHECK(network.node(1).role() == Role::leader);
}

TEST_CASE("a quorum of rejections ends a candidacy", "[raft][election]") {
  TestNetwork network({1, 2, 3}, classic);
  network.node(1).campaign();
  network.process_readies();
  Message rejected;
  rejected.type = MessageType::vote_response;
  rejected.to = 1;
  rejected.term = network.node(1).term();
  rejected.reject = true;
  rejected.from = 2;
  REQUIRE_FALSE(network.node(1).step(rejected));
  CHECK(network.node(1).role() == Role::candidate);
  rejected.from = 3;
  REQUIRE_FALSE(network.node(1).step(rejected));
  CHECK(network.node(1).role() == Role::follower);
}

TEST_CASE("election timeouts are randomised between election_ticks and twice that",
          "[raft][election]") {
  std::vector<int> seen;
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    TestNetwork network({1, 2, 3}, {}, seed);
    network.isolate(1);
    int ticks = 0;
    while (network.node(1).role() == Role::follower && ticks < 100) {
      network.node(1).tick();
      ++ticks;
    }
    REQUIRE(ticks >= 10);
    REQUIRE(ticks < 20);
    seen.push_back(ticks);
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  CHECK(seen.size() >= 5);
}

TEST_CASE("the lease starts at the heartbeat round a quorum acknowledged", "[raft][election]") {
  TestNetwork network({1, 2, 3});
  network.elect(1);
  CHECK_FALSE(network.node(1).lease_start_tick());  // no heartbeat answered yet
  network.tick(1, 3);
  const std::uint64_t sent_at = network.node(1).tick_count();
  network.stabilize();
  REQUIRE(network.node(1).lease_start_tick());
  CHECK(*network.node(1).lease_start_tick() == sent_at);
  // A quorum must answer: with both followers cut off the lease stops moving.
  network.isolate(1);
  network.tick(1, 2);
  network.deliver_all();
  CHECK(*network.node(1).lease_start_tick() == sent_at);
  // One follower back is a quorum with the leader.
  network.heal();
  network.cut(1, 3);
  network.tick(1);
  const std::uint64_t later = network.node(1).tick_count();
  network.deliver_all();
  CHECK(*network.node(1).lease_start_tick() == later);
  // Followers are never leaseholders.
  CHECK_FALSE(network.node(2).lease_start_tick());
}

TEST_CASE("a replica with an empty log grants no vote until a leader gives it state",
          "[raft][election]") {
  // The soak's failure: a replica removed from the group and wiped, then created again for a
  // stale leader's message, voted for that leader in the old configuration, and the leader won
  // without the entries the newer configuration had committed.
  TestNetwork network({1, 2, 3});
  network.elect(1);
  const Term term = network.node(1).term();
  network.add_empty_replica(4);
  network.isolate(4);
  for (int i = 0; i < 2 * network.options_for(4).election_ticks; ++i)
    network.tick(4);  // out of any lease a restart gives
  network.heal();
  network.clear_sent();
  // What replica `to` answers to a (pre-)vote request from 3: rejected or not, if it answered.
  auto answer_of = [&network](NodeId to, MessageType request, Term at, Index index, Term log_term) {
    Message ask;
    ask.type = request;
    ask.from = 3;
    ask.to = to;
    ask.term = at;
    ask.index = index;
    ask.log_term = log_term;
    REQUIRE_FALSE(network.node(to).step(ask));
    network.process_readies();
    const MessageType response =
        request == MessageType::vote ? MessageType::vote_response : MessageType::pre_vote_response;
    std::optional<bool> rejected;
    for (const Message& sent : network.sent())
      if (sent.type == response && sent.from == to) rejected = sent.reject;
    network.clear_sent();
    return rejected;
  };
  CHECK(answer_of(4, MessageType::pre_vote, term + 1, 1, 1) == std::optional<bool>(true));
  CHECK(answer_of(4, MessageType::vote, term + 1, 1, 1) == std::optional<bool>(true));
  CHECK(network.node(4).status().vote == kNoNode);

  // Given state by the leader (a learner's snapshot), a replica votes like anyone else.
  network.add_empty_replica(5);
  network.change_config(1, ConfigChangeKind::add_learner, 5);
  REQUIRE(network.node(5).config().learners == std::vector<NodeId>{5});
  network.isolate(5);
  for (int i = 0; i < 2 * network.options_for(5).election_ticks; ++i)
    network.tick(5);
  network.heal();
  network.clear_sent();
  CHECK(answer_of(5, MessageType::vote, network.node(5).term() + 1,
                  network.node(1).status().last_index,
                  network.node(1).term()) == std::optional<bool>(false));
  CHECK(network.node(5).status().vote == 3);
}
