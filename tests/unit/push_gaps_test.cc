// PushGaps: which numbered PushBatches from other nodes never arrived (route/push_gaps.h).
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "route/push_gaps.h"

namespace {

using qim::route::PushGaps;

TEST_CASE("push gaps: batches in order are no gap, a skipped number is one", "[push_gaps]") {
  PushGaps gaps;
  CHECK_FALSE(gaps.on_batch("n2", 7, 1));
  CHECK_FALSE(gaps.on_batch("n2", 7, 2));
  CHECK(gaps.expected("n2") == 3);
  CHECK(gaps.on_batch("n2", 7, 5));  // 3 and 4 were lost
  CHECK(gaps.expected("n2") == 6);
  CHECK_FALSE(gaps.on_batch("n2", 7, 6));
  CHECK(gaps.gaps() == 1);
  // Senders are independent.
  CHECK_FALSE(gaps.on_batch("n3", 1, 1));
  CHECK(gaps.expected("n2") == 7);
}

TEST_CASE("push gaps: a late batch from an older connection is no gap and moves nothing back",
          "[push_gaps]") {
  PushGaps gaps;
  CHECK_FALSE(gaps.on_batch("n2", 7, 1));
  CHECK(gaps.on_batch("n2", 7, 4));  // 2 and 3 are still on the old connection
  CHECK_FALSE(gaps.on_batch("n2", 7, 2));
  CHECK_FALSE(gaps.on_batch("n2", 7, 3));
  CHECK(gaps.expected("n2") == 5);
  CHECK_FALSE(gaps.on_batch("n2", 7, 5));
  CHECK(gaps.gaps() == 1);
}

TEST_CASE("push gaps: unnumbered batches from an older sender give no verdict", "[push_gaps]") {
  PushGaps gaps;
  CHECK_FALSE(gaps.on_batch("old", 0, 0));
  CHECK(gaps.senders() == 0);
  CHECK_FALSE(gaps.on_batch("n2", 7, 1));
  CHECK_FALSE(gaps.on_batch("n2", 0, 0));
  CHECK(gaps.expected("n2") == 2);
}

TEST_CASE("push gaps: the first word from a sender sets the expectation", "[push_gaps]") {
  PushGaps gaps;
  // Numbers below 40 went to an earlier run of this node.
  CHECK_FALSE(gaps.on_batch("n2", 7, 40));
  CHECK(gaps.expected("n2") == 41);
  PushGaps by_tail;
  CHECK_FALSE(by_tail.on_tail("n2", 7, 40));
  CHECK(by_tail.expected("n2") == 41);
  CHECK_FALSE(by_tail.on_batch("n2", 7, 41));
}

TEST_CASE("push gaps: a restarted sender starts again at 1, anything else is a gap",
          "[push_gaps]") {
  PushGaps gaps;
  CHECK_FALSE(gaps.on_batch("n2", 7, 1));
  CHECK_FALSE(gaps.on_batch("n2", 7, 2));
  SECTION("the new run's first batch arrives") {
    CHECK_FALSE(gaps.on_batch("n2", 8, 1));
    CHECK(gaps.expected("n2") == 2);
  }
  SECTION("the new run's first batches were lost") {
    CHECK(gaps.on_batch("n2", 8, 3));
    CHECK(gaps.expected("n2") == 4);
  }
  SECTION("a tail of the new run before any of its batches") {
    CHECK(gaps.on_tail("n2", 8, 2));
    CHECK_FALSE(gaps.on_tail("n2", 9, 0));  // a run that has sent nothing yet
  }
  SECTION("late batches of the replaced run change nothing") {
    CHECK_FALSE(gaps.on_batch("n2", 8, 1));
    CHECK_FALSE(gaps.on_batch("n2", 7, 3));
    CHECK_FALSE(gaps.on_tail("n2", 7, 9));
    CHECK(gaps.expected("n2") == 2);
  }
}

TEST_CASE("push gaps: a tail reveals the lost last batches", "[push_gaps]") {
  PushGaps gaps;
  CHECK_FALSE(gaps.on_batch("n2", 7, 1));
  CHECK_FALSE(gaps.on_batch("n2", 7, 2));
  CHECK_FALSE(gaps.on_tail("n2", 7, 2));  // everything arrived
  CHECK_FALSE(gaps.on_tail("n2", 7, 1));  // a stale tail
  CHECK(gaps.on_tail("n2", 7, 4));        // 3 and 4 were lost
  CHECK(gaps.expected("n2") == 5);
  CHECK_FALSE(gaps.on_tail("n2", 7, 4));  // the same tail again: already reported
  CHECK_FALSE(gaps.on_batch("n2", 7, 5));
  CHECK(gaps.gaps() == 1);
}

TEST_CASE("push gaps: the sender table is bounded", "[push_gaps]") {
  PushGaps gaps(2);
  CHECK_FALSE(gaps.on_batch("a", 1, 1));
  CHECK_FALSE(gaps.on_batch("b", 1, 1));
  CHECK_FALSE(gaps.on_batch("a", 1, 2));  // a is now the most recent
  CHECK_FALSE(gaps.on_batch("c", 1, 1));  // replaces b
  CHECK(gaps.senders() == 2);
  CHECK(gaps.expected("b") == 0);
  CHECK(gaps.expected("a") == 3);
  CHECK_FALSE(gaps.on_batch("b", 1, 9));  // first contact again
}

TEST_CASE("push gaps: every loss is reported, nothing else, over random runs", "[push_gaps]") {
  // Fixed seeds always run; QIM_TEST_SEED replays a failing one, and one fresh seed per run
  // widens coverage over time. A failure prints the seed.
  std::uint64_t seed = GENERATE(1, 2, 3, 0);
  if (seed == 0) {
    const char* fixed = std::getenv("QIM_TEST_SEED");
    seed = fixed ? std::strtoull(fixed, nullptr, 10) : std::random_device()();
  }
  INFO("seed " << seed << " (rerun with QIM_TEST_SEED=" << seed << ")");
  std::mt19937_64 random(seed);
  PushGaps gaps;
  // One sender, one link at a time: batches arrive in order, except that a broken link loses
  // a run of them; after each round the sender's tail says how far it got.
  std::uint64_t number = 0;
  gaps.on_batch("n2", 5, ++number);  // first contact
  for (int round = 0; round < 200; ++round) {
    std::uint64_t batches = 1 + random() % 6;
    bool lose = random() % 3 == 0;
    std::uint64_t lost_from = lose ? random() % batches : batches;
    std::uint64_t lost_to = lose ? lost_from + 1 + random() % (batches - lost_from) : batches;
    int reported = 0;
    for (std::uint64_t i = 0; i < batches; ++i) {
      ++number;
      if (i >= lost_from && i < lost_to) continue;
      reported += gaps.on_batch("n2", 5, number) ? 1 : 0;
    }
    bool tail_gap = gaps.on_tail("n2", 5, number);
    INFO("round " << round << ": " << batches << " batches, lost [" << lost_from << ", " << lost_to
                  << ")");
    // A loss is reported exactly once: by the first batch after it, else by the tail.
    CHECK(reported == (lose && lost_to < batches ? 1 : 0));
    CHECK(tail_gap == (lose && lost_to == batches));
    CHECK(gaps.expected("n2") == number + 1);
  }
}

}  // namespace
