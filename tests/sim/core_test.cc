// Direct checks of the core's building blocks: update precedence, suspicion timeouts, the
// broadcast queue, and a two-node exchange driven by hand.
#include <catch2/catch.hpp>

#include "cluster/swim/broadcast_queue.h"
#include "cluster/swim/member.h"
#include "cluster/swim/membership.h"
#include "cluster/swim/suspicion.h"

namespace swim = qim::cluster::swim;
using swim::MemberState;
using swim::Version;

TEST_CASE("core: update precedence follows alive(N) < suspect(N) < alive(N+1) < dead", "[core]") {
  const Version alive_1{1, 1, MemberState::alive};
  const Version suspect_1{1, 1, MemberState::suspect};
  const Version alive_2{1, 2, MemberState::alive};
  const Version suspect_2{1, 2, MemberState::suspect};
  const Version dead_2{1, 2, MemberState::dead};
  const Version dead_1{1, 1, MemberState::dead};
  CHECK(swim::supersedes(suspect_1, alive_1));
  CHECK(swim::supersedes(alive_2, suspect_1));
  CHECK(swim::supersedes(suspect_2, alive_2));
  CHECK(swim::supersedes(dead_2, suspect_2));
  CHECK_FALSE(swim::supersedes(alive_1, suspect_1));
  CHECK_FALSE(swim::supersedes(alive_1, alive_1));
  // Tombstones: nothing of the same epoch revives a dead member.
  CHECK_FALSE(swim::supersedes(Version{1, 99, MemberState::alive}, dead_2));
  CHECK_FALSE(swim::supersedes(Version{1, 99, MemberState::left}, dead_2));
  // A dead older than the member's refutation is stale (memberlist's rule).
  CHECK_FALSE(swim::supersedes(dead_1, alive_2));
  // A restart is a new life, whatever the old one's state.
  CHECK(swim::supersedes(Version{2, 0, MemberState::alive}, dead_2));
  CHECK_FALSE(swim::supersedes(Version{0, 50, MemberState::alive}, alive_1));
}

TEST_CASE("core: suspicion timeouts follow memberlist's formula", "[core]") {
  CHECK(swim::Suspicion::min_timeout_ms(4, 100, 1000) == 8000);
  CHECK(swim::Suspicion::min_timeout_ms(4, 5, 1000) == 4000);  // log10 scale floors at 1.
  CHECK(swim::Suspicion::min_timeout_ms(4, 1000, 1000) == 12000);
  swim::Suspicion suspicion("a", 2, 8000, 48000, 0);
  CHECK(suspicion.deadline_ms() == 48000);
  CHECK_FALSE(suspicion.confirm("a"));  // The first accuser does not confirm itself.
  CHECK(suspicion.confirm("b"));
  CHECK_FALSE(suspicion.confirm("b"));
  CHECK(suspicion.deadline_ms() > 8000);
  CHECK(suspicion.deadline_ms() < 48000);
  CHECK(suspicion.confirm("c"));
  CHECK(suspicion.deadline_ms() == 8000);
  CHECK_FALSE(suspicion.confirm("d"));  // k confirmations reached.
  swim::Suspicion classic("a", 0, 8000, 8000, 100);
  CHECK(classic.deadline_ms() == 8100);
}

TEST_CASE("core: the broadcast queue sends fewest-transmitted first and retires updates",
          "[core]") {
  swim::BroadcastQueue queue(3);
  for (const char* name : {"a", "b", "c", "d"}) {
    queue.push(name, swim::encode_message(swim::Alive{name, "x:1", {}, 1, 1}));
  }
  CHECK(queue.size() == 3);                                              // Bounded.
  queue.push("d", swim::encode_message(swim::Suspect{"d", 1, 1, "a"}));  // Replaces "d".
  CHECK(queue.size() == 3);
  for (int round = 0; round < 4; ++round) {
    swim::DatagramBuilder datagram(1400);
    CHECK(queue.fill(datagram, 4) == 3);
  }
  CHECK(queue.empty());
  CHECK(swim::BroadcastQueue::retransmit_limit(4, 100) == 12);
}

TEST_CASE("core: two members find each other by push-pull and probe each other", "[core]") {
  swim::Config config;
  swim::Membership a(config, {"a", "a:1", {}, 1}, 1, 0);
  swim::Membership b(config, {"b", "b:1", {}, 1}, 2, 0);
  swim::Directives out;
  const std::string seeds[] = {"b:1"};
  a.join(seeds, 0, out);
  REQUIRE(out.push_pulls.size() == 1);
  const auto reply = b.on_push_pull_request(a.local_state(true), 1, out);
  a.merge_remote_state(reply, 2, out);
  REQUIRE(a.find("b") != nullptr);
  REQUIRE(b.find("a") != nullptr);
  // Drive both by hand, delivering datagrams instantly, for 10 s.
  std::int64_t now = 2;
  for (int step = 0; step < 2000 && now < 10'000; ++step) {
    now = std::max(now, std::min(a.next_tick_ms(), b.next_tick_ms()));
    swim::Directives from_a, from_b;
    a.tick(now, from_a);
    b.tick(now, from_b);
    for (int hop = 0; hop < 8 && !(from_a.datagrams.empty() && from_b.datagrams.empty()); ++hop) {
      swim::Directives next_a, next_b;
      for (auto& datagram : from_a.datagrams)
        b.on_packet("a:1", datagram.bytes, now, next_b);
      for (auto& datagram : from_b.datagrams)
        a.on_packet("b:1", datagram.bytes, now, next_a);
      from_a = std::move(next_a);
      from_b = std::move(next_b);
    }
    a.invariants();
    b.invariants();
  }
  CHECK(a.counters().probes_acked > 5);
  CHECK(a.counters().probes_failed == 0);
  CHECK(a.find("b")->state == MemberState::alive);
  CHECK(b.find("a")->state == MemberState::alive);
}
