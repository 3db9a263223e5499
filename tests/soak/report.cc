#include "report.h"

#include <fmt/core.h>

namespace qim::soak {
namespace {

std::string percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  return fmt::format("{:.1f}%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
}

std::string duration(std::int64_t ms) {
  if (ms < 0) return "never";
  return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
}

std::string violations_by_kind(const CheckResult& result) {
  std::string out;
  for (int kind = 0; kind < violation_kind_count; ++kind) {
    if (result.violation_counts[kind] == 0) continue;
    out += fmt::format("{}{}={}", out.empty() ? "" : " ",
                       violation_kind_name(static_cast<ViolationKind>(kind)),
                       result.violation_counts[kind]);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

std::string format_report(const History& history, const CheckResult& result,
                          std::size_t examples_per_kind) {
  const Counts& c = result.counts;
  std::string out;
  out += fmt::format(
      "== qim soak report: seed {}, {} nodes, {} users, {} groups, {} msg/s per user, faults "
      "{}, {} s\n",
      history.run.seed, history.run.nodes, history.run.users, history.run.groups, history.run.rate,
      history.run.faults, history.run.duration_ms / 1000);
  if (history.bad_lines != 0) {
    out += fmt::format("   ({} history lines could not be read)\n", history.bad_lines);
  }
  out += fmt::format(
      "sends: {} attempts, {} messages, {} acknowledged ({} duplicate acks), {} never "
      "acknowledged, {} stored without an ack\n",
      c.send_attempts, c.messages, c.acknowledged, c.duplicate_acks, c.given_up,
      c.stored_without_ack);
  out += fmt::format(
      "checked: {} acknowledged messages found at their seq, {} lost, {} unverifiable "
      "(conversation not read back); {} conversations read back\n",
      c.verified, c.lost, c.unverified, c.conversations);
  out += fmt::format(
      "deliveries: {} live, {} by resync; other requests: {} ({} failed); {} read cursor(s) went "
      "back next to a kill or stop (allowed)\n",
      c.deliveries_live, c.deliveries_sync, c.operations, c.operation_failures, c.cursors_excused);
  if (!c.send_errors.empty()) {
    std::string errors;
    for (const auto& [code, count] : c.send_errors)
      errors += fmt::format(" {}={}", code, count);
    out += "send errors:" + errors + "\n";
  }
  out +=
      fmt::format("violations: {} ({})\n", result.total_violations(), violations_by_kind(result));
  for (int kind = 0; kind < violation_kind_count; ++kind) {
    if (result.violation_counts[kind] == 0) continue;
    auto name = violation_kind_name(static_cast<ViolationKind>(kind));
    out += fmt::format("-- {} ({}):\n", name, result.violation_counts[kind]);
    if (static_cast<ViolationKind>(kind) == ViolationKind::unjustified_refusal) {
      std::string by_request;
      for (const auto& [request, count] : result.refusals)
        by_request += fmt::format(" {}={}", request, count);
      out += "   by request:" + by_request + "\n";
    }
    std::size_t shown = 0;
    for (const auto& violation : result.violations) {
      if (static_cast<int>(violation.kind) != kind) continue;
      if (shown++ == examples_per_kind) break;
      out += fmt::format("   [{} ms{}] {}: {}\n", violation.at_ms,
                         violation.node.empty() ? "" : " " + violation.node, violation.where,
                         violation.detail);
    }
  }
  out +=
      "availability by fault kind (send attempts acknowledged during the fault / in the "
      "10 s after; worst recovery):\n";
  for (const auto& [kind, a] : result.by_kind) {
    out += fmt::format(
        "   {:<5} {:>3} faults: during {} of {}, after {} of {}; worst recovery {}\n", kind,
        a.faults, percent(a.acked_during, a.attempts_during), a.attempts_during,
        percent(a.acked_after, a.attempts_after), a.attempts_after, duration(a.worst_recovery_ms));
  }
  out +=
      "faults (recovery: from the end until every user sent again and every session was "
      "back):\n";
  for (const auto& f : result.faults) {
    std::string exit;
    if (f.fault.terminated) {
      exit = f.fault.exited
                 ? fmt::format(", exit {} after {} ms", f.fault.exit_code, f.fault.leave_ms)
                 : ", did not exit";
    }
    out += fmt::format(
        "   #{:<3} {:<5} {:<6} {:>7}–{:<7} ms{}: during {} of {}, after {} of {}, recovery {}{}\n",
        f.fault.id, f.fault.kind, f.fault.node, f.fault.start_ms, f.fault.end_ms, exit,
        percent(f.acked_during, f.attempts_during), f.attempts_during,
        percent(f.acked_after, f.attempts_after), f.attempts_after, duration(f.recovery_ms),
        f.slowest_user.empty() ? "" : " (" + f.slowest_user + ")");
  }
  out +=
      fmt::format("longest send stall: {} ({})\n", duration(result.longest_send_stall_ms),
                  result.longest_send_stall_where.empty() ? "-" : result.longest_send_stall_where);
  out += fmt::format(
      "longest logged-out stretch: {} ({})\n", duration(result.longest_login_stall_ms),
      result.longest_login_stall_where.empty() ? "-" : result.longest_login_stall_where);
  out += fmt::format("longest logged-out stretch with at most one fault in effect: {} ({})\n",
                     duration(result.longest_single_fault_login_stall_ms),
                     result.longest_single_fault_login_stall_where.empty()
                         ? "-"
                         : result.longest_single_fault_login_stall_where);
  out += fmt::format(
      "longest catch-up after a disconnect with at most one fault in effect: {} "
      "({})\n",
      duration(result.longest_single_fault_catch_up_ms),
      result.longest_single_fault_catch_up_where.empty()
          ? "-"
          : result.longest_single_fault_catch_up_where);
  out += fmt::format("result: {}\n", result.total_violations() == 0 ? "PASS" : "FAIL");
  return out;
}

std::string format_summary_line(const History& history, const CheckResult& result) {
  const Counts& c = result.counts;
  return fmt::format("seed {} {}: {} acknowledged, {} lost, {} faults; violations: {}",
                     history.run.seed, result.total_violations() == 0 ? "PASS" : "FAIL",
                     c.acknowledged, c.lost, result.faults.size(), violations_by_kind(result));
}

}  // namespace qim::soak
