// The Raft cluster simulator's runs. Every run prints its seed on failure and how to replay it:
//   QIM_RAFT_SEED=<n> ./qim_raft_sim_tests "[replay]"
// replays that seed alone with a trace of its events on stdout.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/sim/raft/scenario.h"

using namespace qim::sim::raft;

namespace {

// Seeds [first, first + count) of the default or the large shape.
void run_seeds(std::uint64_t first, std::uint64_t count, bool large) {
  std::uint64_t acknowledged = 0;
  std::uint64_t config_changes = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t pauses = 0;
  std::uint64_t revived = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    // Named if the core aborts on a broken invariant (Catch reports it with the signal).
    INFO("seed " << seed << "; replay: QIM_RAFT_SEED=" << seed << (large ? " QIM_RAFT_LARGE=1" : "")
                 << " ./qim_raft_sim_tests \"[replay]\"");
    ScenarioOptions options;
    options.seed = seed;
    options.large = large;
    const ScenarioReport report = run_scenario(options);
    if (!report.ok) {
      FAIL_CHECK("seed " << seed << " failed: " << report.failure << "\n  " << report.summary);
    }
    acknowledged += report.acknowledged;
    config_changes += report.config_changes;
    snapshots += report.snapshots;
    pauses += report.pauses;
    revived += report.revived;
  }
  std::printf(
      "[raft sim] seeds %llu..%llu%s: %llu sends acknowledged, %llu replica changes, "
      "%llu snapshots, %llu pauses, %llu removed replicas revived\n",
      static_cast<unsigned long long>(first), static_cast<unsigned long long>(first + count - 1),
      large ? " (large)" : "", static_cast<unsigned long long>(acknowledged),
      static_cast<unsigned long long>(config_changes), static_cast<unsigned long long>(snapshots),
      static_cast<unsigned long long>(pauses), static_cast<unsigned long long>(revived));
  // The runs must exercise what they claim to.
  CHECK(acknowledged > count * 10);
  CHECK(config_changes > 0);
  CHECK(snapshots > 0);
  CHECK(pauses > 0);
  CHECK(revived > 0);
}

}  // namespace

// 1,000 seeds in ten test cases, so that ctest can spread them over cores.
TEST_CASE("raft sim seeds 0-99", "[raft-sim]") {
  run_seeds(0, 100, false);
}
TEST_CASE("raft sim seeds 100-199", "[raft-sim]") {
  run_seeds(100, 100, false);
}
TEST_CASE("raft sim seeds 200-299", "[raft-sim]") {
  run_seeds(200, 100, false);
}
TEST_CASE("raft sim seeds 300-399", "[raft-sim]") {
  run_seeds(300, 100, false);
}
TEST_CASE("raft sim seeds 400-499", "[raft-sim]") {
  run_seeds(400, 100, false);
}
TEST_CASE("raft sim seeds 500-599", "[raft-sim]") {
  run_seeds(500, 100, false);
}
TEST_CASE("raft sim seeds 600-699", "[raft-sim]") {
  run_seeds(600, 100, false);
}
TEST_CASE("raft sim seeds 700-799", "[raft-sim]") {
  run_seeds(700, 100, false);
}
TEST_CASE("raft sim seeds 800-899", "[raft-sim]") {
  run_seeds(800, 100, false);
}
TEST_CASE("raft sim seeds 900-999", "[raft-sim]") {
  run_seeds(900, 100, false);
}

TEST_CASE("a seed replays identically", "[raft-sim]") {
  for (std::uint64_t seed : {7, 77, 777}) {
    ScenarioOptions options;
    options.seed = seed;
    const ScenarioReport first = run_scenario(options);
    const ScenarioReport second = run_scenario(options);
    CHECK(first.summary == second.summary);
    CHECK(first.failure == second.failure);
    CHECK(first.messages == second.messages);
  }
}

// QIM_RAFT_SEEDS=<first>:<count> searches another range (QIM_RAFT_LARGE=1: the large shape).
TEST_CASE("raft sim: more seeds", "[raft-sim][slow]") {
  std::uint64_t first = 1000;
  std::uint64_t count = 4000;
  if (const char* range = std::getenv("QIM_RAFT_SEEDS")) {
    char* end = nullptr;
    first = std::strtoull(range, &end, 10);
    REQUIRE(*end == ':');
    count = std::strtoull(end + 1, nullptr, 10);
    REQUIRE(count > 0);
  }
  run_seeds(first, count, std::getenv("QIM_RAFT_LARGE") != nullptr);
}

TEST_CASE("raft sim: large clusters, long runs", "[raft-sim][slow]") {
  run_seeds(100000, 300, true);
}

TEST_CASE("raft sim: election time after a leader crash", "[raft-sim][slow]") {
  std::vector<std::int64_t> times;
  std::int64_t election_timeout_ms = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const std::vector<std::int64_t> run = measure_election_times(seed, 10, election_timeout_ms);
    times.insert(times.end(), run.begin(), run.end());
  }
  REQUIRE(times.size() >= 100);
  std::sort(times.begin(), times.end());
  const double median = static_cast<double>(times[times.size() / 2]) / election_timeout_ms;
  const double p90 = static_cast<double>(times[times.size() * 9 / 10]) / election_timeout_ms;
  const double worst = static_cast<double>(times.back()) / election_timeout_ms;
  std::printf(
      "[raft sim] election after a leader crash (%zu elections): median %.2f, p90 %.2f, "
      "max %.2f election timeouts (%lld ms each)\n",
      times.size(), median, p90, worst, static_cast<long long>(election_timeout_ms));
  CHECK(median <= 2.0);
}

TEST_CASE("replay one seed from QIM_RAFT_SEED", "[replay]") {
  const char* seed_text = std::getenv("QIM_RAFT_SEED");
  if (seed_text == nullptr) {
    WARN("set QIM_RAFT_SEED=<n> to replay seed n with a trace (QIM_RAFT_LARGE=1 for large)");
    return;
  }
  ScenarioOptions options;
  options.seed = std::strtoull(seed_text, nullptr, 10);
  options.large = std::getenv("QIM_RAFT_LARGE") != nullptr;
  options.trace = stdout;
  const ScenarioReport report = run_scenario(options);
  std::printf("seed %llu: %s\n  %s\n", static_cast<unsigned long long>(options.seed),
              report.ok ? "ok" : report.failure.c_str(), report.summary.c_str());
  CHECK(report.ok);
}
