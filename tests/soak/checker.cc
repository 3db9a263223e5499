#include "checker.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>
#include <utility>

#include <fmt/core.h>

namespace qim::soak {
namespace {

constexpr std::int64_t forever_ms = std::numeric_limits<std::int64_t>::max();
// Seqs listed in one violation's detail before "...".
constexpr std::size_t max_listed_seqs = 10;

std::string list_seqs(const std::vector<std::uint64_t>& seqs) {
  std::string out;
  for (std::size_t i = 0; i < seqs.size() && i < max_listed_seqs; ++i) {
    if (!out.empty()) out += ",";
    out += std::to_string(seqs[i]);
  }
  if (seqs.size() > max_listed_seqs) out += fmt::format(",... ({} in all)", seqs.size());
  return out;
}

std::string describe(const StoredMessage& m) {
  return fmt::format("seq {} sender {} client_msg_id {} body \"{}\"", m.seq, m.sender,
                     m.client_msg_id, m.body);
}

// [begin, end): the time a relation (a friendship, a group membership) surely held.
struct Interval {
  std::int64_t begin = 0;
  std::int64_t end = forever_ms;
};

struct Relation {
  std::vector<Interval> intervals;
  bool uncertain = false;  // the last change's outcome is unknown (only timeouts)

  bool open() const { return !intervals.empty() && intervals.back().end == forever_ms; }
  bool held(std::int64_t start_ms, std::int64_t end_ms) const {
    for (const auto& interval : intervals) {
      if (interval.begin <= start_ms && end_ms <= interval.end) return true;
    }
    return false;
  }
  void begin(std::int64_t at_ms) {
    if (!open()) intervals.push_back({at_ms, forever_ms});
  }
  void end(std::int64_t at_ms) {
    if (open()) intervals.back().end = std::max(at_ms, intervals.back().begin);
  }
};

using Pair = std::pair<std::string, std::string>;

Pair friend_pair(const std::string& a, const std::string& b) {
  return a < b ? Pair{a, b} : Pair{b, a};
}

// The intended relations, from the operations' outcomes.
struct Model {
  std::map<Pair, Relation> friendships;          // by sorted user pair
  std::map<Pair, Relation> memberships;          // by (group, user)
  std::map<std::string, std::int64_t> groups;    // group -> created (end of the create)
  std::map<std::string, std::int64_t> accounts;  // user -> registered (end of the register)

  const Relation* friendship(const std::string& a, const std::string& b) const {
    auto it = friendships.find(friend_pair(a, b));
    return it == friendships.end() ? nullptr : &it->second;
  }
  const Relation* membership(const std::string& group, const std::string& user) const {
    auto it = memberships.find({group, user});
    return it == memberships.end() ? nullptr : &it->second;
  }
};

// A refusal that a retry may get when an earlier attempt, whose answer was lost, already did
// the work.
bool is_state_reached(const std::string& op, errc code) {
  if (op == "register" || op == "friend_request" || op == "group_create" || op == "group_add") {
    return code == errc::already_exists;
  }
  if (op == "friend_accept") return code == errc::not_found || code == errc::already_exists;
  if (op == "friend_remove") return code == errc::not_friends || code == errc::not_found;
  if (op == "group_remove") return code == errc::not_member || code == errc::not_found;
  return false;
}

// One logical operation (all attempts with one op_id).
struct LogicalOperation {
  std::vector<const Operation*> attempts;  // in order
  const Operation* success = nullptr;      // the attempt that settled it
  bool ambiguous = false;                  // no attempt got a definite answer
  bool refused = false;                    // refused outright
};

class Checker {
 public:
  Checker(const History& history, const CheckOptions& options)
      : history_(history), options_(options) {}

  CheckResult run() {
    build_model();
    build_messages();
    build_logs();
    check_messages();
    check_run_reads();
    check_pushes();
    check_syncs();
    check_final_state();
    check_refusals();
    check_processes();
    measure_availability();
    return std::move(result_);
  }

 private:
  void add(ViolationKind kind, std::int64_t at_ms, std::string node, std::string where,
           std::string detail) {
    auto index = static_cast<std::size_t>(kind);
    ++result_.violation_counts[index];
    if (result_.violation_counts[index] > options_.max_kept_per_kind) return;
    result_.violations.push_back(
        {kind, at_ms, std::move(node), std::move(where), std::move(detail)});
  }

  // --- The intended relations ---------------------------------------------------------------

  void build_model() {
    std::map<std::uint64_t, LogicalOperation> by_id;
    std::vector<std::uint64_t> order;
    for (const auto& op : history_.operations) {
      auto [it, inserted] = by_id.try_emplace(op.op_id);
      if (inserted) order.push_back(op.op_id);
      it->second.attempts.push_back(&op);
    }
    for (std::uint64_t id : order) {
      LogicalOperation& logical = by_id[id];
      std::sort(logical.attempts.begin(), logical.attempts.end(),
                [](const Operation* a, const Operation* b) { return a->attempt < b->attempt; });
      bool earlier_ambiguous = false;
      for (const Operation* attempt : logical.attempts) {
        if (attempt->code == errc::ok ||
            (earlier_ambiguous && is_state_reached(attempt->op, attempt->code))) {
          logical.success = attempt;
          break;
        }
        if (is_availability_error(attempt->code)) {
          earlier_ambiguous = true;
        } else {
          logical.refused = true;
          break;
        }
      }
      logical.ambiguous = logical.success == nullptr && !logical.refused;
      apply(logical);
    }
    logical_operations_ = std::move(by_id);
  }

  void apply(const LogicalOperation& logical) {
    const Operation& first = *logical.attempts.front();
    const std::string& op = first.op;
    std::int64_t settled = logical.success ? logical.success->end_ms : 0;
    if (op == "register" && logical.success) {
      model_.accounts.emplace(first.user, settled);
    } else if (op == "friend_accept") {
      Relation& relation = model_.friendships[friend_pair(first.user, first.target)];
      if (logical.success) relation.begin(settled);
      relation.uncertain = logical.ambiguous;
    } else if (op == "friend_remove") {
      Relation& relation = model_.friendships[friend_pair(first.user, first.target)];
      // Over from the moment it may have taken effect: the first attempt.
      if (!logical.refused) relation.end(first.start_ms);
      relation.uncertain = logical.ambiguous;
    } else if (op == "group_create" || op == "group_add") {
      if (op == "group_create" && logical.success) model_.groups.emplace(first.target, settled);
      std::vector<std::string> users = first.members;
      if (op == "group_create") users.push_back(first.user);
      for (const auto& user : users) {
        Relation& relation = model_.memberships[{first.target, user}];
        if (logical.success) relation.begin(settled);
        relation.uncertain = logical.ambiguous;
      }
    } else if (op == "group_remove") {
      for (const auto& user : first.members) {
        Relation& relation = model_.memberships[{first.target, user}];
        if (!logical.refused) relation.end(first.start_ms);
        relation.uncertain = logical.ambiguous;
      }
    }
  }

  // --- Messages as sent -----------------------------------------------------------------------

  struct SentMessage {
    std::string user;
    std::uint64_t counter = 0;
    std::string conversation;
    std::uint64_t client_msg_id = 0;
    std::string body;
    std::int64_t first_start_ms = 0;
    std::int64_t last_end_ms = 0;
    std::string node;
    const SendAttempt* ack = nullptr;  // the first acknowledgement
    std::int64_t ack_end_ms = 0;
  };

  void build_messages() {
    for (const auto& attempt : history_.sends) {
      ++result_.counts.send_attempts;
      if (attempt.code != errc::ok) ++result_.counts.send_errors[errc_name(attempt.code)];
      auto key = std::make_pair(attempt.user, attempt.client_msg_id);
      auto [it, inserted] = messages_.try_emplace(key);
      SentMessage& message = it->second;
      if (inserted) {
        message = {attempt.user,
                   attempt.counter,
                   attempt.conversation,
                   attempt.client_msg_id,
                   attempt.body,
                   attempt.start_ms,
                   attempt.end_ms,
                   attempt.node,
                   nullptr,
                   0};
      }
      message.first_start_ms = std::min(message.first_start_ms, attempt.start_ms);
      message.last_end_ms = std::max(message.last_end_ms, attempt.end_ms);
      if (attempt.code != errc::ok) continue;
      if (attempt.duplicate) ++result_.counts.duplicate_acks;
      if (attempt.ack_conversation != attempt.conversation) {
        add(ViolationKind::ack_conflict, attempt.end_ms, attempt.node, attempt.conversation,
            fmt::format("{}'s message {} (client_msg_id {}) was addressed to {} and acknowledged "
                        "in {} at seq {}",
                        attempt.user, attempt.counter, attempt.client_msg_id, attempt.conversation,
                        attempt.ack_conversation, attempt.seq));
      }
      if (message.ack == nullptr) {
        message.ack = &attempt;
        message.ack_end_ms = attempt.end_ms;
      } else if (message.ack->seq != attempt.seq ||
                 message.ack->ack_conversation != attempt.ack_conversation) {
        add(ViolationKind::ack_conflict, attempt.end_ms, attempt.node, attempt.conversation,
            fmt::format("{}'s message {} (client_msg_id {}) acknowledged at seq {} (attempt {}, "
                        "node {}) and at seq {} (attempt {}, node {})",
                        attempt.user, attempt.counter, attempt.client_msg_id, message.ack->seq,
                        message.ack->attempt, message.ack->node, attempt.seq, attempt.attempt,
                        attempt.node));
      }
    }
    result_.counts.messages = messages_.size();
    for (const auto& [key, message] : messages_) {
      if (message.ack) {
        ++result_.counts.acknowledged;
      } else {
        ++result_.counts.given_up;
      }
    }
  }

  // --- The logs as read back ------------------------------------------------------------------

  void build_logs() {
    // The complete read-back with the most messages is the conversation's log; every other
    // complete one must agree with it where they overlap (one order for everyone).
    std::map<std::string, const ReadBack*> best;
    for (const auto& read_back : history_.read_backs) {
      if (!read_back.complete || read_back.phase != "final") continue;
      const ReadBack*& chosen = best[read_back.conversation];
      if (chosen == nullptr || read_back.messages.size() > chosen->messages.size()) {
        chosen = &read_back;
      }
    }
    for (const auto& [conversation, read_back] : best) {
      auto& log = logs_[conversation];
      for (const auto& message : read_back->messages)
        log.emplace(message.seq, message);
      log_readers_[conversation] = read_back->reader;
    }
    for (const auto& read_back : history_.read_backs) {
      if (!read_back.complete || read_back.phase != "final") continue;
      const auto& log = logs_[read_back.conversation];
      for (const auto& message : read_back.messages) {
        auto it = log.find(message.seq);
        if (it == log.end() || it->second.sender != message.sender ||
            it->second.client_msg_id != message.client_msg_id || it->second.body != message.body) {
          add(ViolationKind::readers_disagree, read_back.at_ms, {}, read_back.conversation,
              fmt::format("{} reads {}; {} reads {}", read_back.reader, describe(message),
                          log_readers_[read_back.conversation],
                          it == log.end() ? "nothing at that seq" : describe(it->second)));
          break;
        }
      }
    }
    result_.counts.conversations = logs_.size();
  }

  // --- Acknowledged messages against the logs -------------------------------------------------

  void check_messages() {
    std::map<std::string, std::vector<const SentMessage*>> acked_by_conversation;
    for (const auto& [key, message] : messages_) {
      if (message.ack) acked_by_conversation[message.ack->ack_conversation].push_back(&message);
    }
    std::set<std::string> unreadable_reported;
    for (const auto& [conversation, acked] : acked_by_conversation) {
      auto log_it = logs_.find(conversation);
      if (log_it == logs_.end()) {
        result_.counts.unverified += acked.size();
        add(ViolationKind::readback_failed, 0, {}, conversation,
            fmt::format("no complete read-back of {}, which has {} acknowledged messages",
                        conversation, acked.size()));
        continue;
      }
      const auto& log = log_it->second;
      std::map<std::pair<std::string, std::uint64_t>, std::uint64_t> position;
      for (const auto& [seq, stored] : log)
        position.emplace(std::make_pair(stored.sender, stored.client_msg_id), seq);
      for (const SentMessage* message : acked) {
        const SendAttempt& ack = *message->ack;
        std::string what = fmt::format(
            "{}'s message {} (client_msg_id {}, body \"{}\") acknowledged at seq {} at {} ms via "
            "{} (attempt {}, duplicate {})",
            message->user, message->counter, message->client_msg_id, message->body, ack.seq,
            ack.end_ms, ack.node, ack.attempt, ack.duplicate);
        auto at = log.find(ack.seq);
        auto found = position.find({message->user, message->client_msg_id});
        if (at != log.end() && at->second.sender == message->user &&
            at->second.client_msg_id == message->client_msg_id) {
          ++result_.counts.verified;
          if (at->second.body != message->body) {
            add(ViolationKind::body_mismatch, ack.end_ms, ack.node, conversation,
                fmt::format("{}; stored: {}", what, describe(at->second)));
          }
        } else if (found != position.end()) {
          add(ViolationKind::misplaced_message, ack.end_ms, ack.node, conversation,
              fmt::format("{}; stored at seq {}", what, found->second));
        } else if (at != log.end()) {
          ++result_.counts.lost;
          add(ViolationKind::overwritten_message, ack.end_ms, ack.node, conversation,
              fmt::format("{}; that seq holds {}", what, describe(at->second)));
        } else {
          ++result_.counts.lost;
          add(ViolationKind::lost_message, ack.end_ms, ack.node, conversation,
              fmt::format("{}; the log ends at seq {}", what,
                          log.empty() ? 0 : log.rbegin()->first));
        }
      }
      check_sender_order(conversation, acked);
    }
    for (const auto& [conversation, log] : logs_)
      check_log(conversation, log);
  }

  void check_sender_order(const std::string& conversation, std::vector<const SentMessage*> acked) {
    std::sort(acked.begin(), acked.end(), [](const SentMessage* a, const SentMessage* b) {
      return std::tie(a->user, a->counter) < std::tie(b->user, b->counter);
    });
    for (std::size_t i = 1; i < acked.size(); ++i) {
      const SentMessage& before = *acked[i - 1];
      const SentMessage& after = *acked[i];
      if (before.user != after.user) continue;
      // Only an order the sender imposed: the later message was first sent after the earlier
      // one was acknowledged.
      if (before.ack_end_ms > after.first_start_ms) continue;
      if (after.ack->seq <= before.ack->seq) {
        add(ViolationKind::sender_order, after.ack_end_ms, after.ack->node, conversation,
            fmt::format("{}'s message {} acknowledged at seq {} (at {} ms), yet its later "
                        "message {} (sent from {} ms) at seq {}",
                        before.user, before.counter, before.ack->seq, before.ack_end_ms,
                        after.counter, after.first_start_ms, after.ack->seq));
      }
    }
  }

  void check_log(const std::string& conversation,
                 const std::map<std::uint64_t, StoredMessage>& log) {
    std::vector<std::uint64_t> missing;
    std::uint64_t expected = 1;
    for (const auto& [seq, stored] : log) {
      for (; expected < seq && missing.size() <= max_listed_seqs; ++expected)
        missing.push_back(expected);
      expected = seq + 1;
    }
    std::uint64_t head = 0;
    for (const auto& sync : history_.syncs) {
      if (sync.phase != "final") continue;
      for (const auto& view : sync.conversations) {
        if (view.conversation == conversation) head = std::max(head, view.head_seq);
      }
    }
    std::uint64_t last = log.empty() ? 0 : log.rbegin()->first;
    if (!missing.empty() || head > last) {
      add(ViolationKind::seq_gap, 0, {}, conversation,
          fmt::format("{} (read by {}): missing seqs {}; the log ends at {}, the final sync "
                      "says head {}",
                      conversation, log_readers_[conversation], list_seqs(missing), last, head));
    }
    std::map<std::pair<std::string, std::uint64_t>, std::vector<std::uint64_t>> stored_at;
    for (const auto& [seq, stored] : log) {
      stored_at[{stored.sender, stored.client_msg_id}].push_back(seq);
      auto sent = messages_.find({stored.sender, stored.client_msg_id});
      if (sent == messages_.end()) {
        add(ViolationKind::phantom_message, 0, {}, conversation,
            fmt::format("{} holds {}, which nobody sent", conversation, describe(stored)));
        continue;
      }
      if (sent->second.conversation != conversation) {
        add(ViolationKind::phantom_message, 0, {}, conversation,
            fmt::format("{} holds {}, which was sent to {}", conversation, describe(stored),
                        sent->second.conversation));
      } else if (sent->second.ack == nullptr) {
        ++result_.counts.stored_without_ack;
        if (stored.body != sent->second.body) {
          add(ViolationKind::body_mismatch, 0, {}, conversation,
              fmt::format("{} holds {}; sent body \"{}\"", conversation, describe(stored),
                          sent->second.body));
        }
      }
    }
    for (const auto& [key, seqs] : stored_at) {
      if (seqs.size() < 2) continue;
      add(ViolationKind::duplicate_message, 0, {}, conversation,
          fmt::format("{}'s client_msg_id {} is stored at seqs {}", key.first, key.second,
                      list_seqs(seqs)));
    }
  }

  // --- Reads during the run ------------------------------------------------------------------

  // Whether `message` is exactly what the server acknowledged (sender, id, body, at its
  // acknowledged seq of `conversation`): a later read or push of it is right even when the
  // final log lost it, which is then reported once, as a lost or overwritten message.
  bool was_acknowledged_as(const StoredMessage& message, const std::string& conversation) const {
    auto sent = messages_.find({message.sender, message.client_msg_id});
    return sent != messages_.end() && sent->second.ack != nullptr &&
           sent->second.ack->seq == message.seq &&
           sent->second.ack->ack_conversation == conversation && sent->second.body == message.body;
  }

  void check_run_reads() {
    // Acknowledged messages per conversation, by seq.
    std::map<std::string, std::map<std::uint64_t, const SentMessage*>> acked;
    for (const auto& [key, message] : messages_) {
      if (message.ack) acked[message.ack->ack_conversation].emplace(message.ack->seq, &message);
    }
    for (const auto& read : history_.read_backs) {
      if (read.phase != "run" || !read.complete) continue;
      std::string where = read.reader + " " + read.conversation;
      std::uint64_t last = read.after_seq;
      std::set<std::uint64_t> seen;
      auto log = logs_.find(read.conversation);
      for (const auto& message : read.messages) {
        last = std::max(last, message.seq);
        seen.insert(message.seq);
        if (log == logs_.end()) continue;
        auto stored = log->second.find(message.seq);
        if (was_acknowledged_as(message, read.conversation)) continue;  // lost later: reported
        if (stored == log->second.end() || stored->second.sender != message.sender ||
            stored->second.client_msg_id != message.client_msg_id ||
            stored->second.body != message.body) {
          add(ViolationKind::read_mismatch, read.start_ms, {}, where,
              fmt::format(
                  "{}'s read of {} after seq {} ({}–{} ms) returned {}; the final log "
                  "holds {}",
                  read.reader, read.conversation, read.after_seq, read.start_ms, read.at_ms,
                  describe(message),
                  stored == log->second.end() ? "nothing there" : describe(stored->second)));
        }
      }
      auto conversation = acked.find(read.conversation);
      if (conversation == acked.end()) continue;
      // Without `more`, the page runs to the head: everything acknowledged before the read
      // began must be in it; with `more`, everything up to its last seq.
      std::uint64_t covered = read.more ? last : std::numeric_limits<std::uint64_t>::max();
      std::vector<std::uint64_t> missing;
      for (auto it = conversation->second.upper_bound(read.after_seq);
           it != conversation->second.end() && it->first <= covered; ++it) {
        if (it->second->ack_end_ms < read.start_ms && !seen.contains(it->first))
          missing.push_back(it->first);
      }
      if (missing.empty()) continue;
      add(ViolationKind::read_missing, read.start_ms, {}, where,
          fmt::format("{}'s read of {} after seq {} ({}–{} ms, {} messages{}) lacks acknowledged "
                      "seqs {}",
                      read.reader, read.conversation, read.after_seq, read.start_ms, read.at_ms,
                      read.messages.size(), read.more ? ", more follow" : "", list_seqs(missing)));
    }
  }

  // --- What sessions were handed ------------------------------------------------------------

  void check_pushes() {
    struct Stream {
      std::uint64_t highest = 0;
      bool highest_live = true;
      std::set<std::uint64_t> seen;
    };
    std::map<std::pair<std::string, std::string>, Stream> streams;  // (session, conversation)
    for (const auto& delivery : history_.deliveries) {
      ++(delivery.live ? result_.counts.deliveries_live : result_.counts.deliveries_sync);
      Stream& stream = streams[{delivery.session, delivery.conversation}];
      const char* how = delivery.live ? "live" : "by resync";
      std::string where = delivery.session + " " + delivery.conversation;
      if (!stream.seen.insert(delivery.seq).second) {
        add(ViolationKind::push_duplicate, delivery.at_ms, {}, where,
            fmt::format("session {} was handed seq {} of {} again ({}) at {} ms", delivery.session,
                        delivery.seq, delivery.conversation, how, delivery.at_ms));
      } else if (delivery.seq < stream.highest) {
        add(ViolationKind::push_reorder, delivery.at_ms, {}, where,
            fmt::format("session {} was handed seq {} of {} ({}) at {} ms after seq {} ({})",
                        delivery.session, delivery.seq, delivery.conversation, how, delivery.at_ms,
                        stream.highest, stream.highest_live ? "live" : "by resync"));
      }
      if (delivery.seq > stream.highest) {
        stream.highest = delivery.seq;
        stream.highest_live = delivery.live;
      }
      auto log = logs_.find(delivery.conversation);
      if (log == logs_.end()) continue;
      auto stored = log->second.find(delivery.seq);
      StoredMessage handed{delivery.seq, delivery.sender, delivery.client_msg_id, delivery.body};
      // The acknowledged message at its own seq, gone from the log since: reported as lost.
      if (was_acknowledged_as(handed, delivery.conversation)) continue;
      if (stored == log->second.end()) {
        add(ViolationKind::push_mismatch, delivery.at_ms, {}, where,
            fmt::format("session {} was handed ({}) {}; the log has no such seq", delivery.session,
                        how, describe(handed)));
      } else if (stored->second.sender != delivery.sender ||
                 stored->second.client_msg_id != delivery.client_msg_id ||
                 stored->second.body != delivery.body) {
        add(ViolationKind::push_mismatch, delivery.at_ms, {}, where,
            fmt::format("session {} was handed ({}) {}; the log holds {}", delivery.session, how,
                        describe(handed), describe(stored->second)));
      }
    }
    // Completeness: a session that was logged in and quiet at the end has every message of its
    // conversations from its first readable seq to the head, but its own (not pushed back to
    // the session that sent them).
    for (const auto& sync : history_.syncs) {
      if (sync.phase != "session_end") continue;
      for (const auto& view : sync.conversations) {
        auto log = logs_.find(view.conversation);
        if (log == logs_.end()) continue;
        auto stream = streams.find({sync.session, view.conversation});
        std::vector<std::uint64_t> missing;
        for (std::uint64_t seq = std::max<std::uint64_t>(view.first_seq, 1); seq <= view.head_seq;
             ++seq) {
          auto stored = log->second.find(seq);
          if (stored != log->second.end() && stored->second.sender == sync.user) continue;
          if (stream != streams.end() && stream->second.seen.contains(seq)) continue;
          missing.push_back(seq);
        }
        if (missing.empty()) continue;
        add(ViolationKind::push_lost, sync.end_ms, {}, sync.session + " " + view.conversation,
            fmt::format("session {} ({}), logged in and quiet at {} ms, never got seqs {} of {} "
                        "(head {})",
                        sync.session, sync.user, sync.end_ms, list_seqs(missing), view.conversation,
                        view.head_seq));
      }
    }
  }

  // --- Read cursors and heads -----------------------------------------------------------------

  void check_syncs() {
    std::vector<const SyncRecord*> syncs;
    for (const auto& sync : history_.syncs)
      syncs.push_back(&sync);
    std::sort(syncs.begin(), syncs.end(),
              [](const SyncRecord* a, const SyncRecord* b) { return a->start_ms < b->start_ms; });
    // What a sync starting at some time must at least show: the highest cursor and head any
    // earlier finished sync showed, and every acknowledged ack and message.
    struct Floor {
      std::uint64_t value = 0;
      std::int64_t at_ms = 0;
      std::string source;
    };
    // Events that raise a floor, by their end time.
    struct Raise {
      std::int64_t at_ms = 0;
      bool cursor = false;  // false: head
      std::string key;      // cursor: user/device/conversation; head: conversation
      std::uint64_t value = 0;
      std::string source;
    };
    std::vector<Raise> raises;
    for (const auto* sync : syncs) {
      for (const auto& view : sync->conversations) {
        raises.push_back({sync->end_ms, true,
                          sync->user + "/" + sync->device + "/" + view.conversation, view.read_seq,
                          fmt::format("a sync ({}) ending at {} ms", sync->phase, sync->end_ms)});
        raises.push_back(
            {sync->end_ms, false, view.conversation, view.head_seq,
             fmt::format("{}'s sync ({}) ending at {} ms", sync->user, sync->phase, sync->end_ms)});
      }
    }
    std::map<std::string, std::string> device_of;  // user -> device, from the syncs
    for (const auto* sync : syncs)
      device_of.emplace(sync->user, sync->device);
    for (const auto& op : history_.operations) {
      if (op.op != "ack" || op.code != errc::ok) continue;
      auto device = device_of.find(op.user);
      if (device == device_of.end()) continue;
      raises.push_back(
          {op.end_ms, true, op.user + "/" + device->second + "/" + op.target, op.seq,
           fmt::format("an acknowledged ack of seq {} ending at {} ms", op.seq, op.end_ms)});
    }
    for (const auto& [key, message] : messages_) {
      if (message.ack == nullptr) continue;
      raises.push_back({message.ack_end_ms, false, message.ack->ack_conversation, message.ack->seq,
                        fmt::format("{}'s message acknowledged at seq {} at {} ms", message.user,
                                    message.ack->seq, message.ack_end_ms)});
    }
    std::sort(raises.begin(), raises.end(),
              [](const Raise& a, const Raise& b) { return a.at_ms < b.at_ms; });
    std::map<std::string, Floor> cursor_floor, head_floor;
    std::set<std::string> cursor_reported, head_reported;
    std::size_t next = 0;
    for (const auto* sync : syncs) {
      for (; next < raises.size() && raises[next].at_ms < sync->start_ms; ++next) {
        const Raise& raise = raises[next];
        Floor& floor = (raise.cursor ? cursor_floor : head_floor)[raise.key];
        if (raise.value > floor.value) floor = {raise.value, raise.at_ms, raise.source};
      }
      for (const auto& view : sync->conversations) {
        std::string cursor_key = sync->user + "/" + sync->device + "/" + view.conversation;
        auto cursor = cursor_floor.find(cursor_key);
        if (cursor != cursor_floor.end() && view.read_seq < cursor->second.value &&
            crash_near(cursor->second.at_ms)) {
          // Buffered at a leader that was killed or paused: the cursor may go back that far.
          ++result_.counts.cursors_excused;
          cursor->second = {view.read_seq, sync->end_ms, "a sync after a crash"};
        } else if (cursor != cursor_floor.end() && view.read_seq < cursor->second.value &&
                   cursor_reported.insert(cursor_key).second) {
          bool from_ack = cursor->second.source.rfind("an acknowledged ack", 0) == 0;
          add(from_ack ? ViolationKind::cursor_lost : ViolationKind::cursor_regressed,
              sync->start_ms, {}, cursor_key,
              fmt::format("{}'s sync ({}) from {} ms shows read cursor {} of {}; {} showed {}",
                          sync->user, sync->phase, sync->start_ms, view.read_seq, view.conversation,
                          cursor->second.source, cursor->second.value));
        }
        auto head = head_floor.find(view.conversation);
        if (head != head_floor.end() && view.head_seq < head->second.value &&
            head_reported.insert(view.conversation).second) {
          add(ViolationKind::head_regressed, sync->start_ms, {}, view.conversation,
              fmt::format("{}'s sync ({}) from {} ms shows head {} of {}; before it, {} showed "
                          "{}",
                          sync->user, sync->phase, sync->start_ms, view.head_seq, view.conversation,
                          head->second.source, head->second.value));
        }
      }
    }
  }

  // Whether a kill or stop fault started within the cursor loss window of `at_ms`.
  bool crash_near(std::int64_t at_ms) const {
    for (const auto& fault : history_.faults) {
      if (fault.kind != "kill" && fault.kind != "stop") continue;
      if (std::abs(fault.start_ms - at_ms) <= options_.cursor_loss_window_ms) return true;
    }
    return false;
  }

  // --- Nothing lost at the end ----------------------------------------------------------------

  void check_final_state() {
    std::map<std::string, const Operation*> final_login;
    for (const auto& op : history_.operations) {
      if (op.op != "login" || op.phase != "final") continue;
      const Operation*& last = final_login[op.user];
      if (last == nullptr || op.code == errc::ok || last->code != errc::ok) last = &op;
    }
    for (const auto& [user, registered_ms] : model_.accounts) {
      auto login = final_login.find(user);
      if (login == final_login.end()) {
        add(ViolationKind::readback_failed, 0, {}, user,
            fmt::format("{} was registered at {} ms and never logged in at the end", user,
                        registered_ms));
      } else if (login->second->code != errc::ok) {
        add(ViolationKind::account_lost, login->second->end_ms, login->second->node, user,
            fmt::format("{} (registered at {} ms) cannot log in with its password at the end: "
                        "{} {}",
                        user, registered_ms, errc_name(login->second->code),
                        login->second->message));
      }
    }
    std::map<std::string, const FriendListRecord*> lists;
    for (const auto& list : history_.friend_lists) {
      const FriendListRecord*& kept = lists[list.user];
      if (kept == nullptr || list.code == errc::ok) kept = &list;
    }
    for (const auto& [pair, relation] : model_.friendships) {
      if (relation.uncertain || !relation.open()) continue;
      for (const auto& [user, other] : {pair, Pair{pair.second, pair.first}}) {
        auto list = lists.find(user);
        if (list == lists.end() || list->second->code != errc::ok) {
          add(ViolationKind::readback_failed, 0, {}, user,
              fmt::format("{}'s friend list could not be read at the end{}", user,
                          list == lists.end() ? "" : ": " + list->second->message));
          continue;
        }
        std::string state = "absent";
        for (const auto& entry : list->second->friends) {
          if (entry.user == other) state = entry.state;
        }
        if (state != "accepted") {
          add(ViolationKind::friendship_lost, list->second->at_ms, {}, user,
              fmt::format("{} and {} became friends at {} ms; at the end {}'s list says {}",
                          pair.first, pair.second, relation.intervals.back().begin, user, state));
        }
      }
    }
    std::map<std::string, const RosterRecord*> rosters;
    for (const auto& roster : history_.rosters) {
      const RosterRecord*& kept = rosters[roster.group];
      if (kept == nullptr ||
          (roster.code == errc::ok &&
           (kept->code != errc::ok || roster.members.size() > kept->members.size()))) {
        kept = &roster;
      }
    }
    for (const auto& [key, relation] : model_.memberships) {
      if (relation.uncertain || !relation.open()) continue;
      const auto& [group, user] = key;
      auto roster = rosters.find(group);
      if (roster == rosters.end() || roster->second->code != errc::ok) {
        add(ViolationKind::membership_lost, roster == rosters.end() ? 0 : roster->second->at_ms, {},
            group,
            fmt::format("group {} (member {} since {} ms) could not be read at the end{}", group,
                        user, relation.intervals.back().begin,
                        roster == rosters.end()
                            ? std::string()
                            : ": " + std::string(errc_name(roster->second->code)) + " " +
                                  roster->second->message));
        continue;
      }
      const auto& members = roster->second->members;
      if (std::find(members.begin(), members.end(), user) == members.end()) {
        add(ViolationKind::membership_lost, roster->second->at_ms, {}, group,
            fmt::format("{} joined {} at {} ms; the final roster ({} members, read by {}) lacks "
                        "them",
                        user, group, relation.intervals.back().begin, members.size(),
                        roster->second->reader));
      }
    }
    // Sync lists every conversation the user took part in.
    std::map<std::string, std::set<std::string>> expected;
    for (const auto& [key, message] : messages_) {
      if (message.ack == nullptr) continue;
      const std::string& conversation = message.ack->ack_conversation;
      if (conversation.rfind("d:", 0) == 0) {
        expected[message.user].insert(conversation);
        if (!message.ack->to_user.empty()) expected[message.ack->to_user].insert(conversation);
      }
    }
    for (const auto& [key, relation] : model_.memberships) {
      if (!relation.uncertain && relation.open()) expected[key.second].insert("g:" + key.first);
    }
    std::map<std::string, const SyncRecord*> final_sync;
    for (const auto& sync : history_.syncs) {
      if (sync.phase == "final") final_sync[sync.user] = &sync;
    }
    for (const auto& [user, conversations] : expected) {
      auto sync = final_sync.find(user);
      if (sync == final_sync.end()) {
        add(ViolationKind::readback_failed, 0, {}, user,
            fmt::format("{} never synced at the end", user));
        continue;
      }
      std::set<std::string> listed;
      for (const auto& view : sync->second->conversations)
        listed.insert(view.conversation);
      std::vector<std::string> missing;
      for (const auto& conversation : conversations) {
        if (!listed.contains(conversation)) missing.push_back(conversation);
      }
      if (missing.empty()) continue;
      std::string names;
      for (const auto& name : missing)
        names += (names.empty() ? "" : ", ") + name;
      add(ViolationKind::conversation_missing, sync->second->start_ms, {}, user,
          fmt::format("{}'s final sync lists {} conversations and lacks {}", user, listed.size(),
                      names));
    }
  }

  // --- Refusals -------------------------------------------------------------------------------

  // Whether the relation behind `conversation` surely held for `user` during [start, end].
  bool surely_member(const std::string& user, const std::string& conversation,
                     std::int64_t start_ms, std::int64_t end_ms) const {
    if (conversation.rfind("g:", 0) == 0) {
      const Relation* relation = model_.membership(conversation.substr(2), user);
      return relation != nullptr && relation->held(start_ms, end_ms);
    }
    if (conversation.rfind("d:", 0) == 0) {
      auto colon = conversation.find(':', 2);
      if (colon == std::string::npos) return false;
      std::string a = conversation.substr(2, colon - 2), b = conversation.substr(colon + 1);
      const Relation* relation = model_.friendship(a, b);
      return relation != nullptr && relation->held(start_ms, end_ms);
    }
    return false;
  }

  bool group_exists(const std::string& group, std::int64_t at_ms) const {
    auto it = model_.groups.find(group);
    return it != model_.groups.end() && it->second <= at_ms;
  }

  void check_refusals() {
    for (const auto& attempt : history_.sends) {
      if (attempt.code == errc::ok || is_availability_error(attempt.code)) continue;
      bool justified = false;
      switch (attempt.code) {
        case errc::not_friends:
        case errc::not_member:
        case errc::forbidden:
          justified =
              !surely_member(attempt.user, attempt.conversation, attempt.start_ms, attempt.end_ms);
          break;
        case errc::not_found:
          justified =
              !attempt.to_group.empty() && !group_exists(attempt.to_group, attempt.start_ms);
          break;
        default:
          break;
      }
      if (justified) continue;
      ++result_.refusals[fmt::format("send {}", errc_name(attempt.code))];
      add(ViolationKind::unjustified_refusal, attempt.start_ms, attempt.node, attempt.conversation,
          fmt::format("send by {} to {} (message {}, attempt {}, {}–{} ms) refused: {} {}",
                      attempt.user, attempt.conversation, attempt.counter, attempt.attempt,
                      attempt.start_ms, attempt.end_ms, errc_name(attempt.code), attempt.message));
    }
    for (const auto& [id, logical] : logical_operations_) {
      bool earlier_ambiguous = false;
      for (const Operation* op : logical.attempts) {
        ++result_.counts.operations;
        if (op->code == errc::ok) continue;
        ++result_.counts.operation_failures;
        if (is_availability_error(op->code)) {
          earlier_ambiguous = true;
          continue;
        }
        if (earlier_ambiguous && is_state_reached(op->op, op->code)) continue;
        if (refusal_justified(*op)) continue;
        // A failed final login is reported as a lost account.
        if (op->op == "login" && op->phase == "final") continue;
        ++result_.refusals[fmt::format("{} {}", op->op, errc_name(op->code))];
        add(ViolationKind::unjustified_refusal, op->start_ms, op->node, op->user,
            fmt::format("{} by {} ({}{}, attempt {}, phase {}, {}–{} ms) refused: {} {}", op->op,
                        op->user, op->target, op->seq ? fmt::format(" seq {}", op->seq) : "",
                        op->attempt, op->phase, op->start_ms, op->end_ms, errc_name(op->code),
                        op->message));
      }
    }
    for (const auto& event : history_.connections) {
      // The client library gives up reconnecting with a final error: a refused token.
      if (event.kind != "gave_up" || is_availability_error(event.code)) continue;
      ++result_.refusals[fmt::format("token login {}", errc_name(event.code))];
      add(ViolationKind::unjustified_refusal, event.at_ms, {}, event.user,
          fmt::format("session {} of {} could not log in again with its token at {} ms: {} {}",
                      event.session, event.user, event.at_ms, errc_name(event.code),
                      event.message));
    }
  }

  bool refusal_justified(const Operation& op) const {
    switch (op.code) {
      case errc::not_friends:
      case errc::not_member:
      case errc::forbidden:
        if (op.op == "ack" || op.op == "pull") {
          return !surely_member(op.user, op.target, op.start_ms, op.end_ms);
        }
        if (op.op == "group_members") {
          return !surely_member(op.user, "g:" + op.target, op.start_ms, op.end_ms);
        }
        return false;
      default:
        return false;
    }
  }

  // --- Processes ------------------------------------------------------------------------------

  void check_processes() {
    for (const auto& exit : history_.exits) {
      if (exit.expected) continue;
      add(ViolationKind::node_crash, exit.at_ms, exit.node, exit.node,
          fmt::format("{} exited on its own at {} ms: {}", exit.node, exit.at_ms,
                      exit.signal ? fmt::format("signal {}", exit.signal)
                                  : fmt::format("exit code {}", exit.exit_code)));
    }
    for (const auto& fault : history_.faults) {
      if (fault.kind != "term" && fault.kind != "join") continue;
      if (fault.end_ms == 0 || !fault.terminated) continue;  // cut short, or never told to go
      bool in_time =
          history_.run.leave_bound_ms == 0 || fault.leave_ms <= history_.run.leave_bound_ms;
      if (fault.exited && fault.exit_code == 0 && in_time) continue;
      add(ViolationKind::leave_failed, fault.start_ms, fault.node, fault.node,
          fmt::format("fault {} ({}): {} after SIGTERM {} (leave took {} ms, bound {} ms){}",
                      fault.id, fault.kind, fault.node,
                      !fault.exited  ? std::string("did not exit in time")
                      : fault.signal ? fmt::format("died of signal {}", fault.signal)
                                     : fmt::format("exited with code {}", fault.exit_code),
                      fault.leave_ms, history_.run.leave_bound_ms,
                      fault.note.empty() ? "" : "; " + fault.note));
    }
    for (const auto& problem : history_.log_problems) {
      add(ViolationKind::log_problem, 0, problem.node, problem.node,
          fmt::format("{}: {}", problem.node, problem.line));
    }
  }

  // --- Availability ---------------------------------------------------------------------------

  void measure_availability() {
    // Per user: acknowledged attempts by start time; connection losses and returns.
    std::map<std::string, std::vector<const SendAttempt*>> acked_by_user;
    std::set<std::string> users;
    for (const auto& attempt : history_.sends) {
      users.insert(attempt.user);
      if (attempt.code == errc::ok) acked_by_user[attempt.user].push_back(&attempt);
    }
    for (auto& [user, acked] : acked_by_user) {
      std::sort(acked.begin(), acked.end(), [](const SendAttempt* a, const SendAttempt* b) {
        return a->start_ms < b->start_ms;
      });
    }
    // Logged-out stretches per session: from a disconnect to the next reconnect or relogin;
    // and, for an automatic reconnection, on to the end of its catch-up.
    struct Outage {
      std::string session;
      std::int64_t begin = 0, end = forever_ms, caught_up = forever_ms;
    };
    std::vector<Outage> outages;
    std::map<std::string, std::size_t> open_outage, catching_up;
    for (const auto& event : history_.connections) {
      if (event.kind == "disconnected") {
        catching_up.erase(event.session);
        if (!open_outage.contains(event.session)) {
          open_outage[event.session] = outages.size();
          outages.push_back({event.session, event.at_ms, forever_ms, forever_ms});
        }
      } else if (event.kind == "reconnected" || event.kind == "relogin") {
        auto it = open_outage.find(event.session);
        if (it != open_outage.end()) {
          outages[it->second].end = event.at_ms;
          if (event.kind == "reconnected") catching_up[event.session] = it->second;
          open_outage.erase(it);
        }
      } else if (event.kind == "caught_up") {
        auto it = catching_up.find(event.session);
        if (it != catching_up.end()) {
          outages[it->second].caught_up = event.at_ms;
          catching_up.erase(it);
        }
      }
    }
    std::int64_t run_end_ms = 0;
    for (const auto& phase : history_.phases) {
      if (phase.name == "drain") run_end_ms = phase.at_ms;
    }
    // When each fault disturbs the cluster: a join while it takes its share and while it leaves.
    std::vector<std::pair<std::int64_t, std::int64_t>> disturbances;  // [from, to], by fault
    std::vector<std::uint32_t> disturbance_fault;
    for (const auto& fault : history_.faults) {
      auto add = [&](std::int64_t from, std::int64_t to) {
        disturbances.emplace_back(from, to);
        disturbance_fault.push_back(fault.id);
      };
      if (fault.kind == "join") {
        add(fault.start_ms, fault.start_ms + options_.fault_settle_ms);
        if (fault.terminated)
          add(fault.end_ms, fault.end_ms + std::max<std::int64_t>(fault.leave_ms, 0));
      } else {
        add(fault.start_ms, fault.end_ms);
      }
    }
    auto faults_in_effect = [&](std::int64_t begin, std::int64_t end) {
      std::set<std::uint32_t> in_effect;
      for (std::size_t i = 0; i < disturbances.size(); ++i) {
        auto [from, to] = disturbances[i];
        if (from <= end && to >= begin - options_.fault_settle_ms) {
          in_effect.insert(disturbance_fault[i]);
        }
      }
      return in_effect.size();
    };
    for (const auto& outage : outages) {
      std::int64_t end = outage.end == forever_ms ? run_end_ms : outage.end;
      std::int64_t length = end - outage.begin;
      std::string where = fmt::format("session {} from {} ms{}", outage.session, outage.begin,
                                      outage.end == forever_ms ? ", never back" : "");
      if (length > result_.longest_login_stall_ms) {
        result_.longest_login_stall_ms = length;
        result_.longest_login_stall_where = where;
      }
      if (faults_in_effect(outage.begin, end) <= 1 &&
          length > result_.longest_single_fault_login_stall_ms) {
        result_.longest_single_fault_login_stall_ms = length;
        result_.longest_single_fault_login_stall_where = where;
      }
      // Catch-ups that ended: the pulled messages are judged by completeness, this is only how
      // long they took to come.
      if (outage.caught_up == forever_ms) continue;
      std::int64_t caught_up = outage.caught_up - outage.begin;
      if (faults_in_effect(outage.begin, outage.caught_up) <= 1 &&
          caught_up > result_.longest_single_fault_catch_up_ms) {
        result_.longest_single_fault_catch_up_ms = caught_up;
        result_.longest_single_fault_catch_up_where = where;
      }
    }
    for (const auto& [key, message] : messages_) {
      std::int64_t end = message.ack ? message.ack_end_ms : message.last_end_ms;
      if (end - message.first_start_ms > result_.longest_send_stall_ms) {
        result_.longest_send_stall_ms = end - message.first_start_ms;
        result_.longest_send_stall_where =
            fmt::format("{}'s message {} to {} from {} ms{}", message.user, message.counter,
                        message.conversation, message.first_start_ms,
                        message.ack ? "" : ", never acknowledged");
      }
    }
    for (const auto& fault : history_.faults) {
      FaultAvailability availability;
      availability.fault = fault;
      std::int64_t end = fault.end_ms != 0 ? fault.end_ms : forever_ms;
      std::int64_t after_end =
          end == forever_ms ? forever_ms : end + options_.after_fault_window_ms;
      for (const auto& attempt : history_.sends) {
        if (attempt.start_ms >= fault.start_ms && attempt.start_ms <= end) {
          ++availability.attempts_during;
          if (attempt.code == errc::ok) ++availability.acked_during;
        } else if (attempt.start_ms > end && attempt.start_ms <= after_end) {
          ++availability.attempts_after;
          if (attempt.code == errc::ok) ++availability.acked_after;
        }
      }
      if (end != forever_ms) {
        std::int64_t recovery = 0;
        for (const auto& user : users) {
          // Did the user send after the end at all? Then its first success counts.
          bool sent_after = false;
          for (const auto& attempt : history_.sends) {
            if (attempt.user == user && attempt.start_ms >= end) {
              sent_after = true;
              break;
            }
          }
          if (!sent_after) continue;
          std::optional<std::int64_t> first_ok;
          for (const SendAttempt* attempt : acked_by_user[user]) {
            if (attempt->start_ms >= end) {
              first_ok = attempt->end_ms - end;
              break;
            }
          }
          if (!first_ok) {
            recovery = -1;
            availability.slowest_user = user;
            break;
          }
          if (*first_ok > recovery) {
            recovery = *first_ok;
            availability.slowest_user = user;
          }
        }
        for (const auto& outage : outages) {
          if (recovery < 0) break;
          if (outage.begin > end || outage.end <= end) continue;
          if (outage.end == forever_ms) {
            recovery = -1;
            availability.slowest_user = outage.session;
          } else if (outage.end - end > recovery) {
            recovery = outage.end - end;
            availability.slowest_user = outage.session;
          }
        }
        availability.recovery_ms = recovery;
      }
      KindAvailability& kind = result_.by_kind[fault.kind];
      ++kind.faults;
      kind.attempts_during += availability.attempts_during;
      kind.acked_during += availability.acked_during;
      kind.attempts_after += availability.attempts_after;
      kind.acked_after += availability.acked_after;
      if (availability.recovery_ms < 0 || kind.worst_recovery_ms < 0) {
        kind.worst_recovery_ms = -1;
      } else {
        kind.worst_recovery_ms = std::max(kind.worst_recovery_ms, availability.recovery_ms);
      }
      result_.faults.push_back(std::move(availability));
    }
  }

  const History& history_;
  const CheckOptions& options_;
  CheckResult result_;
  Model model_;
  std::map<std::uint64_t, LogicalOperation> logical_operations_;
  std::map<std::pair<std::string, std::uint64_t>, SentMessage> messages_;  // (user, msg id)
  std::map<std::string, std::map<std::uint64_t, StoredMessage>> logs_;
  std::map<std::string, std::string> log_readers_;
};

}  // namespace

const char* violation_kind_name(ViolationKind kind) {
  switch (kind) {
    case ViolationKind::lost_message:
      return "lost_message";
    case ViolationKind::misplaced_message:
      return "misplaced_message";
    case ViolationKind::overwritten_message:
      return "overwritten_message";
    case ViolationKind::body_mismatch:
      return "body_mismatch";
    case ViolationKind::duplicate_message:
      return "duplicate_message";
    case ViolationKind::ack_conflict:
      return "ack_conflict";
    case ViolationKind::seq_gap:
      return "seq_gap";
    case ViolationKind::sender_order:
      return "sender_order";
    case ViolationKind::phantom_message:
      return "phantom_message";
    case ViolationKind::readers_disagree:
      return "readers_disagree";
    case ViolationKind::read_missing:
      return "read_missing";
    case ViolationKind::read_mismatch:
      return "read_mismatch";
    case ViolationKind::push_duplicate:
      return "push_duplicate";
    case ViolationKind::push_reorder:
      return "push_reorder";
    case ViolationKind::push_mismatch:
      return "push_mismatch";
    case ViolationKind::push_lost:
      return "push_lost";
    case ViolationKind::cursor_regressed:
      return "cursor_regressed";
    case ViolationKind::cursor_lost:
      return "cursor_lost";
    case ViolationKind::head_regressed:
      return "head_regressed";
    case ViolationKind::account_lost:
      return "account_lost";
    case ViolationKind::friendship_lost:
      return "friendship_lost";
    case ViolationKind::membership_lost:
      return "membership_lost";
    case ViolationKind::conversation_missing:
      return "conversation_missing";
    case ViolationKind::unjustified_refusal:
      return "unjustified_refusal";
    case ViolationKind::readback_failed:
      return "readback_failed";
    case ViolationKind::node_crash:
      return "node_crash";
    case ViolationKind::leave_failed:
      return "leave_failed";
    case ViolationKind::log_problem:
      return "log_problem";
  }
  return "unknown";
}

bool is_availability_error(errc code) {
  switch (code) {
    case errc::unavailable:
    case errc::rate_limited:
    case errc::shutting_down:
    case errc::wrong_node:
    case errc::too_many_connections:
    case errc::idle_timeout:
    case errc::slow_consumer:
    case errc::not_authenticated:  // a call racing the client's re-login after a disconnect
      return true;
    default:
      return false;
  }
}

std::uint64_t CheckResult::total_violations() const {
  std::uint64_t total = 0;
  for (auto count : violation_counts)
    total += count;
  return total;
}

CheckResult check_history(const History& history, const CheckOptions& options) {
  return Checker(history, options).run();
}

}  // namespace qim::soak
