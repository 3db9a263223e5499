// Flow control: the in-flight window and the probe / replicate / snapshot states.
#include <catch2/catch.hpp>

#include "replication/raft/progress.h"

using namespace qim::replication::raft;

TEST_CASE("the in-flight window frees in order and wraps around", "[raft][progress]") {
  Inflights inflights(5);
  for (Index i = 1; i <= 5; ++i) {
    REQUIRE_FALSE(inflights.full());
    inflights.add(i * 10);
  }
  CHECK(inflights.full());
  inflights.free_through(25);
  CHECK(inflights.count() == 3);
  inflights.add(60);
  inflights.add(70);
  CHECK(inflights.full());
  CHECK(inflights.invariants_hold());
  inflights.free_through(5);  // nothing that old
  CHECK(inflights.count() == 5);
  inflights.free_through(70);
  CHECK(inflights.count() == 0);
  inflights.add(80);
  CHECK(inflights.count() == 1);
  CHECK(inflights.invariants_hold());
}

TEST_CASE("a probe sends one append until the follower answers", "[raft][progress]") {
  Progress progress(/*next=*/11, /*max_inflight_messages=*/4, /*learner=*/false);
  CHECK(progress.state == ProgressState::probe);
  CHECK_FALSE(progress.paused());
  progress.sent_entries(3, 13);
  CHECK(progress.paused());
  CHECK(progress.next == 11);  // a probe is not optimistic
  // A rejection of an older append is stale.
  CHECK_FALSE(progress.maybe_decrease_to(/*rejected=*/5, /*match_hint=*/4));
  // The answer to ours moves next back, to the hint, but not below match + 1.
  CHECK(progress.maybe_decrease_to(/*rejected=*/10, /*match_hint=*/6));
  CHECK(progress.next == 7);
  CHECK_FALSE(progress.paused());
  CHECK(progress.maybe_update(6));
  progress.become_replicate();
  CHECK(progress.next == 7);
}

TEST_CASE("replicate pipelines up to the window", "[raft][progress]") {
  Progress progress(1, 3, false);
  progress.maybe_update(5);
  progress.become_replicate();
  progress.sent_entries(2, 7);
  progress.sent_entries(2, 9);
  CHECK_FALSE(progress.paused());
  progress.sent_entries(1, 10);
  CHECK(progress.paused());
  CHECK(progress.next == 11);
  // A rejection at or below match is stale; above it, next falls back to match + 1.
  CHECK_FALSE(progress.maybe_decrease_to(5, 3));
  CHECK(progress.maybe_decrease_to(7, 5));
  CHECK(progress.next == 6);
  CHECK(progress.invariants_hold());
}

TEST_CASE("a snapshot pauses the follower until it is reported", "[raft][progress]") {
  Progress progress(1, 3, false);
  progress.maybe_update(3);
  progress.become_snapshot(20);
  CHECK(progress.paused());
  CHECK(progress.pending_snapshot == 20);
  CHECK(progress.invariants_hold());
  // Reported delivered: probe after the snapshot.
  progress.become_probe();
  CHECK(progress.next == 21);
  CHECK(progress.pending_snapshot == 0);
  // Failed: probe from the match.
  progress.become_snapshot(30);
  progress.pending_snapshot = 0;  // what report_snapshot(ok = false) does before probing
  progress.become_probe();
  CHECK(progress.next == 4);
}

TEST_CASE("commit bumps are sent only when the follower could use them", "[raft][progress]") {
  Progress progress(1, 3, false);
  progress.maybe_update(5);
  progress.become_replicate();
  progress.sent_commit(5);
  CHECK_FALSE(progress.can_bump_commit(5));
  progress.sent_entries(2, 7);
  CHECK(progress.can_bump_commit(6));
  progress.sent_commit(7);
  CHECK_FALSE(progress.can_bump_commit(7));
}
