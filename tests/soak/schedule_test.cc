// The nemesis's plan: reproducible from the seed, only the asked kinds, never a majority of
// the initial members out at once (by the plan's own estimates), durations in their ranges.
#include "schedule.h"

#include <set>

#include <catch2/catch.hpp>

namespace qim::soak {

TEST_CASE("fault kinds parse from the flag", "[soak][schedule]") {
  FaultKinds kinds;
  REQUIRE(parse_fault_kinds("kill,stop", kinds));
  CHECK((kinds.kill && kinds.stop && !kinds.term && !kinds.join));
  REQUIRE(parse_fault_kinds("all", kinds));
  CHECK(fault_kinds_text(kinds) == "kill,stop,term,join");
  REQUIRE(parse_fault_kinds("none", kinds));
  CHECK_FALSE(kinds.any());
  CHECK_FALSE(parse_fault_kinds("kill,partition", kinds));
  CHECK_FALSE(parse_fault_kinds("", kinds));
}

TEST_CASE("the plan follows from the seed and keeps a majority up", "[soak][schedule]") {
  ScheduleOptions options;
  options.duration_ms = 3'600'000;
  REQUIRE(parse_fault_kinds("all", options.kinds));
  auto seed = GENERATE(1u, 2u, 3u, 42u);
  options.seed = seed;
  INFO("seed " << seed);
  auto plan = plan_faults(options);
  REQUIRE(plan.size() > 100);
  auto again = plan_faults(options);
  REQUIRE(again.size() == plan.size());
  for (std::size_t i = 0; i < plan.size(); ++i)
    CHECK(describe(again[i]) == describe(plan[i]));
  options.seed = seed + 1000;
  auto other = plan_faults(options);
  CHECK(describe(other.front()) + describe(other.back()) !=
        describe(plan.front()) + describe(plan.back()));

  std::set<FaultKind> seen;
  for (const auto& fault : plan) {
    seen.insert(fault.kind);
    CHECK(fault.start_ms < options.duration_ms - options.quiet_tail_ms);
    switch (fault.kind) {
      case FaultKind::kill:
        CHECK((fault.duration_ms >= 2'000 && fault.duration_ms <= 8'000));
        break;
      case FaultKind::stop:
        CHECK((fault.duration_ms >= 2'000 && fault.duration_ms <= 10'000));
        break;
      case FaultKind::term:
        CHECK((fault.duration_ms >= 2'000 && fault.duration_ms <= 8'000));
        break;
      case FaultKind::join:
        CHECK((fault.duration_ms >= 15'000 && fault.duration_ms <= 40'000));
        CHECK(fault.node.rfind("j", 0) == 0);
        break;
    }
    // At the start of every fault, at most max_nodes_out(5) = 2 initial members are out,
    // and never the same one twice.
    std::set<std::string> out;
    for (const auto& other_fault : plan) {
      if (other_fault.kind == FaultKind::join) continue;
      if (other_fault.start_ms <= fault.start_ms &&
          fault.start_ms < other_fault.start_ms + other_fault.out_ms()) {
        CHECK(out.insert(other_fault.node).second);
      }
    }
    CHECK(out.size() <= max_nodes_out(options.nodes));
  }
  CHECK(seen.size() == 4);
}

TEST_CASE("without overlap a fault starts only after the previous one ended", "[soak][schedule]") {
  ScheduleOptions options;
  options.overlap = false;
  options.duration_ms = 600'000;
  REQUIRE(parse_fault_kinds("kill,stop,term", options.kinds));
  auto plan = plan_faults(options);
  REQUIRE(plan.size() > 5);
  for (std::size_t i = 1; i < plan.size(); ++i) {
    CHECK(plan[i].start_ms >= plan[i - 1].start_ms + plan[i - 1].out_ms());
  }
}

TEST_CASE("only the asked kinds, and none for a baseline", "[soak][schedule]") {
  ScheduleOptions options;
  REQUIRE(parse_fault_kinds("stop", options.kinds));
  for (const auto& fault : plan_faults(options))
    CHECK(fault.kind == FaultKind::stop);
  REQUIRE(parse_fault_kinds("none", options.kinds));
  CHECK(plan_faults(options).empty());
}

TEST_CASE("three nodes allow one out, one node none", "[soak][schedule]") {
  CHECK(max_nodes_out(5) == 2);
  CHECK(max_nodes_out(3) == 1);
  CHECK(max_nodes_out(1) == 0);
  ScheduleOptions options;
  options.nodes = 1;
  REQUIRE(parse_fault_kinds("kill,join", options.kinds));
  for (const auto& fault : plan_faults(options))
    CHECK(fault.kind == FaultKind::join);
}

}  // namespace qim::soak
