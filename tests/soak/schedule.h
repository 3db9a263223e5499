#pragma once
// The nemesis's plan: which fault hits which node when, for how long, all derived from the
// seed, so a run can be printed up front and reproduced. Pure: no clock, no processes.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qim::soak {

enum class FaultKind : std::uint8_t { kill, stop, term, join };
const char* fault_kind_name(FaultKind kind);

struct FaultKinds {
  bool kill = false, stop = false, term = false, join = false;
  bool any() const { return kill || stop || term || join; }
};
// "kill,stop,term,join", "all" or "none"; false on anything else.
bool parse_fault_kinds(std::string_view text, FaultKinds& kinds);
std::string fault_kinds_text(const FaultKinds& kinds);

struct ScheduleOptions {
  std::uint64_t seed = 1;
  std::uint32_t nodes = 5;  // the initial members, n1..nN
  std::int64_t duration_ms = 600'000;
  FaultKinds kinds;
  // Between the starts of two faults.
  std::int64_t interval_min_ms = 5'000, interval_max_ms = 15'000;
  // A fault may start while another lasts (never on the same node, never with a majority down).
  bool overlap = true;
  // kill -9, then restart after; SIGSTOP, then SIGCONT after; SIGTERM, then restart this long
  // after the node exited; a joined node is removed (SIGTERM) after.
  std::int64_t kill_down_min_ms = 2'000, kill_down_max_ms = 8'000;
  std::int64_t stop_min_ms = 2'000, stop_max_ms = 10'000;
  std::int64_t term_down_min_ms = 2'000, term_down_max_ms = 8'000;
  std::int64_t join_life_min_ms = 15'000, join_life_max_ms = 40'000;
  // What a graceful leave is assumed to take when planning (the executor waits for the real
  // exit, up to its bound).
  std::int64_t leave_estimate_ms = 10'000;
  // No fault starts later than this before the end, so most end within the run.
  std::int64_t quiet_tail_ms = 10'000;
};

struct PlannedFault {
  std::uint32_t id = 0;
  FaultKind kind = FaultKind::kill;
  std::int64_t start_ms = 0;     // from the start of the run phase
  std::string node;              // the target; for join, the name of the node that joins
  std::int64_t duration_ms = 0;  // down, paused, down after leaving, or alive (join)
  // The planner's estimate of how long the target is out (for the majority rule).
  std::int64_t out_ms() const;
  std::int64_t leave_estimate_ms = 0;
};

// At most this many of `nodes` initial members may be out at once: a minority.
std::uint32_t max_nodes_out(std::uint32_t nodes);

// REQUIRES: options.nodes >= 1, interval_min_ms <= interval_max_ms, each min <= its max.
std::vector<PlannedFault> plan_faults(const ScheduleOptions& options);

std::string describe(const PlannedFault& fault);

}  // namespace qim::soak
