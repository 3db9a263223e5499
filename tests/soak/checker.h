#pragma once
// The soak's judge: reads a History and says what went wrong, where and when. Pure: no I/O,
// no clock, so it is tested on synthetic histories (checker_test.cc) and can be run again on a
// saved one.
//
// What it proves (DESIGN §7–§9):
// - messages: every acknowledged message is in its conversation exactly once, at its
//   acknowledged seq, with its sender, client_msg_id and body; every log is gap-free from 1;
//   a sender's messages keep their order; nothing is stored that nobody sent; a read during
//   the run sees every message acknowledged before it and nothing the final log does not hold;
// - pushes: per session and conversation, what the client library handed the application has
//   increasing seqs without duplicates, each equal to the stored message; a session that was
//   logged in and quiet at the end got every message of its conversations but its own;
// - read cursors and heads never go backwards, and an acknowledged ack is never forgotten;
// - nothing lost: accounts log in, friendships stay accepted, members stay members, sync lists
//   every conversation a user took part in;
// - no refusal the data does not justify; unavailable, rate_limited and timeouts are
//   availability, not violations;
// - no node crashed, every graceful leave exited 0 in time, no log shows an assertion.
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "history.h"

namespace qim::soak {

enum class ViolationKind {
  lost_message,          // acknowledged, not in the log
  misplaced_message,     // acknowledged, in the log at another seq
  overwritten_message,   // acknowledged, another message at its seq
  body_mismatch,         // the stored message's body is not what was sent
  duplicate_message,     // one (sender, client_msg_id) stored twice in a conversation
  ack_conflict,          // two acknowledgements of one message disagree
  seq_gap,               // a log is not 1, 2, ..., head
  sender_order,          // a sender's later message got a lower seq
  phantom_message,       // stored, but nobody sent it
  readers_disagree,      // two participants read different messages at one seq
  read_missing,          // a read during the run lacked a message acknowledged before it
  read_mismatch,         // a read during the run returned something else than the log holds
  push_duplicate,        // a session was handed one seq twice
  push_reorder,          // a session was handed a lower seq after a higher one
  push_mismatch,         // a session was handed something else than the log holds
  push_lost,             // a session logged in and quiet at the end never got a message
  cursor_regressed,      // a read cursor went backwards
  cursor_lost,           // an acknowledged ack is not in a later sync
  head_regressed,        // a conversation's head went backwards
  account_lost,          // a registered account cannot log in at the end
  friendship_lost,       // a friendship is not accepted on both sides at the end
  membership_lost,       // a group member is not in the roster at the end
  conversation_missing,  // sync does not list a conversation the user took part in
  unjustified_refusal,   // a refusal (auth_failed, not_friends, ...) the data does not justify
  readback_failed,       // something could not be read back at the end
  node_crash,            // a node exited without being told to
  leave_failed,          // a SIGTERM'd node exited non-zero or not within the bound
  log_problem,           // an assertion, sanitizer report or abort in a node's log
};
inline constexpr int violation_kind_count = static_cast<int>(ViolationKind::log_problem) + 1;
const char* violation_kind_name(ViolationKind kind);

struct Violation {
  ViolationKind kind = ViolationKind::lost_message;
  std::int64_t at_ms = 0;  // when it happened or was observed
  std::string node;        // the node involved, when known
  std::string where;       // the conversation, user, session or group
  std::string detail;      // everything needed to find it in the history
};

struct CheckOptions {
  // Send attempts counted after a fault ended, for its availability.
  std::int64_t after_fault_window_ms = 10'000;
  // Violations kept per kind (all are counted).
  std::size_t max_kept_per_kind = 200;
  // A read cursor is stored up to qimd's --cursor-flush-ms (200 ms) plus a commit after its
  // Ack, and kept in the leader's memory until then (handed over with a leadership transfer,
  // lost when the leader is killed or paused). A cursor shown within this window of the start
  // of a kill or stop fault may go back without a violation (counted as cursors_excused).
  std::int64_t cursor_loss_window_ms = 3'000;
  // A logged-out stretch is put down to the faults in effect from this long before it began
  // until it ended: a kill, stop or term from its start to its end, a join for this long after
  // it started and, once terminated, until it exited.
  std::int64_t fault_settle_ms = 2'000;
};

// Availability around one fault.
struct FaultAvailability {
  FaultRecord fault;
  std::uint64_t attempts_during = 0, acked_during = 0;
  std::uint64_t attempts_after = 0, acked_after = 0;
  // From the fault's end until every user that sent afterwards had a send acknowledged that
  // began after the end, and every session that lost its connection was logged in again; -1:
  // some user never did.
  std::int64_t recovery_ms = -1;
  std::string slowest_user;
};

struct KindAvailability {
  std::uint32_t faults = 0;
  std::uint64_t attempts_during = 0, acked_during = 0;
  std::uint64_t attempts_after = 0, acked_after = 0;
  std::int64_t worst_recovery_ms = 0;  // -1 when one never recovered
};

struct Counts {
  std::uint64_t send_attempts = 0;
  std::uint64_t messages = 0;  // distinct (sender, counter)
  std::uint64_t acknowledged = 0;
  std::uint64_t duplicate_acks = 0;  // acks that said "duplicate"
  std::uint64_t given_up = 0;        // messages never acknowledged
  std::uint64_t stored_without_ack = 0;
  std::uint64_t lost = 0;        // acknowledged and not in the log at all
  std::uint64_t verified = 0;    // acknowledged and found at their seq
  std::uint64_t unverified = 0;  // acknowledged in a conversation that could not be read back
  std::uint64_t conversations = 0;
  std::uint64_t deliveries_live = 0, deliveries_sync = 0;
  std::uint64_t operations = 0, operation_failures = 0;
  std::uint64_t cursors_excused = 0;  // cursor losses next to a kill or stop (see CheckOptions)
  std::map<std::string, std::uint64_t> send_errors;  // by error code name
};

struct CheckResult {
  Counts counts;
  std::vector<Violation> violations;  // at most max_kept_per_kind of each kind
  std::array<std::uint64_t, violation_kind_count> violation_counts{};
  // Unjustified refusals by request and code ("send not_friends", "token auth_failed").
  std::map<std::string, std::uint64_t> refusals;
  std::vector<FaultAvailability> faults;
  std::map<std::string, KindAvailability> by_kind;
  // The longest time one message took from its first attempt to its acknowledgement (or to
  // its last attempt when never acknowledged), and the longest a session was logged out.
  std::int64_t longest_send_stall_ms = 0;
  std::string longest_send_stall_where;
  std::int64_t longest_login_stall_ms = 0;
  std::string longest_login_stall_where;
  // The same over the stretches with at most one fault in effect (the bar: a single fault).
  std::int64_t longest_single_fault_login_stall_ms = 0;
  std::string longest_single_fault_login_stall_where;
  // From a disconnect to the end of the reconnection's catch-up (the missed messages in hand),
  // with at most one fault in effect.
  std::int64_t longest_single_fault_catch_up_ms = 0;
  std::string longest_single_fault_catch_up_where;

  std::uint64_t total_violations() const;
};

CheckResult check_history(const History& history, const CheckOptions& options = {});

// Whether an error code is availability (retry later) rather than a refusal.
bool is_availability_error(errc code);

}  // namespace qim::soak
