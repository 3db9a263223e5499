#include "schedule.h"

#include <algorithm>
#include <random>

#include <fmt/core.h>

namespace qim::soak {
namespace {

// Faults planned per run at most; a bound on the plan, far above what an hour needs.
constexpr std::size_t max_planned_faults = 10'000;

std::int64_t uniform(std::mt19937_64& random, std::int64_t low, std::int64_t high) {
  return std::uniform_int_distribution<std::int64_t>(low, high)(random);
}

}  // namespace

const char* fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kill:
      return "kill";
    case FaultKind::stop:
      return "stop";
    case FaultKind::term:
      return "term";
    case FaultKind::join:
      return "join";
  }
  return "unknown";
}

bool parse_fault_kinds(std::string_view text, FaultKinds& kinds) {
  kinds = {};
  if (text == "none") return true;
  if (text == "all") {
    kinds = {true, true, true, true};
    return true;
  }
  std::size_t at = 0;
  while (at <= text.size()) {
    std::size_t comma = text.find(',', at);
    std::string_view name =
        text.substr(at, comma == std::string_view::npos ? std::string_view::npos : comma - at);
    if (name == "kill") {
      kinds.kill = true;
    } else if (name == "stop") {
      kinds.stop = true;
    } else if (name == "term") {
      kinds.term = true;
    } else if (name == "join") {
      kinds.join = true;
    } else {
      return false;
    }
    if (comma == std::string_view::npos) break;
    at = comma + 1;
  }
  return true;
}

std::string fault_kinds_text(const FaultKinds& kinds) {
  std::string out;
  for (auto [on, name] : {std::pair{kinds.kill, "kill"}, std::pair{kinds.stop, "stop"},
                          std::pair{kinds.term, "term"}, std::pair{kinds.join, "join"}}) {
    if (on) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out.empty() ? "none" : out;
}

std::int64_t PlannedFault::out_ms() const {
  switch (kind) {
    case FaultKind::kill:
    case FaultKind::stop:
      return duration_ms;
    case FaultKind::term:
      return leave_estimate_ms + duration_ms;
    case FaultKind::join:
      return 0;  // no initial member is out
  }
  return 0;
}

std::uint32_t max_nodes_out(std::uint32_t nodes) {
  return nodes == 0 ? 0 : (nodes - 1) / 2;
}

std::vector<PlannedFault> plan_faults(const ScheduleOptions& options) {
  std::vector<PlannedFault> plan;
  std::vector<FaultKind> kinds;
  if (options.kinds.kill) kinds.push_back(FaultKind::kill);
  if (options.kinds.stop) kinds.push_back(FaultKind::stop);
  if (options.kinds.term) kinds.push_back(FaultKind::term);
  if (options.kinds.join) kinds.push_back(FaultKind::join);
  std::uint32_t allowed_out = max_nodes_out(options.nodes);
  if (kinds.empty()) return plan;
  std::mt19937_64 random(options.seed);
  // When each initial member is back (planned), and when the last fault ends.
  std::vector<std::int64_t> busy_until(options.nodes, 0);
  std::int64_t last_end = 0;
  std::uint32_t joins = 0;
  std::int64_t at = uniform(random, options.interval_min_ms, options.interval_max_ms);
  while (at < options.duration_ms - options.quiet_tail_ms && plan.size() < max_planned_faults) {
    if (!options.overlap) at = std::max(at, last_end);
    if (at >= options.duration_ms - options.quiet_tail_ms) break;
    PlannedFault fault;
    fault.id = static_cast<std::uint32_t>(plan.size() + 1);
    fault.kind = kinds[uniform(random, 0, static_cast<std::int64_t>(kinds.size()) - 1)];
    fault.start_ms = at;
    fault.leave_estimate_ms = fault.kind == FaultKind::term ? options.leave_estimate_ms : 0;
    switch (fault.kind) {
      case FaultKind::kill:
        fault.duration_ms = uniform(random, options.kill_down_min_ms, options.kill_down_max_ms);
        break;
      case FaultKind::stop:
        fault.duration_ms = uniform(random, options.stop_min_ms, options.stop_max_ms);
        break;
      case FaultKind::term:
        fault.duration_ms = uniform(random, options.term_down_min_ms, options.term_down_max_ms);
        break;
      case FaultKind::join:
        fault.duration_ms = uniform(random, options.join_life_min_ms, options.join_life_max_ms);
        break;
    }
    bool placed = true;
    if (fault.kind == FaultKind::join) {
      fault.node = "j" + std::to_string(++joins);
    } else {
      std::vector<std::uint32_t> free;
      std::uint32_t out = 0;
      for (std::uint32_t node = 0; node < options.nodes; ++node) {
        if (busy_until[node] > at) {
          ++out;
        } else {
          free.push_back(node);
        }
      }
      if (out >= allowed_out || free.empty()) {
        placed = false;  // a majority must stay up: try again later
      } else {
        std::uint32_t node = free[uniform(random, 0, static_cast<std::int64_t>(free.size()) - 1)];
        fault.node = "n" + std::to_string(node + 1);
        busy_until[node] = at + fault.out_ms();
      }
    }
    if (placed) {
      last_end = std::max(last_end, at + std::max(fault.out_ms(), fault.duration_ms));
      plan.push_back(std::move(fault));
    }
    at += uniform(random, options.interval_min_ms, options.interval_max_ms);
  }
  return plan;
}

std::string describe(const PlannedFault& fault) {
  switch (fault.kind) {
    case FaultKind::kill:
      return fmt::format("#{} at {} ms: kill -9 {}, restart {} ms later", fault.id, fault.start_ms,
                         fault.node, fault.duration_ms);
    case FaultKind::stop:
      return fmt::format("#{} at {} ms: SIGSTOP {}, SIGCONT {} ms later", fault.id, fault.start_ms,
                         fault.node, fault.duration_ms);
    case FaultKind::term:
      return fmt::format("#{} at {} ms: SIGTERM {} (graceful leave), restart {} ms after it exits",
                         fault.id, fault.start_ms, fault.node, fault.duration_ms);
    case FaultKind::join:
      return fmt::format("#{} at {} ms: join a fresh node {}, SIGTERM it {} ms later", fault.id,
                         fault.start_ms, fault.node, fault.duration_ms);
  }
  return "?";
}

}  // namespace qim::soak
