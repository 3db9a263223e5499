#include "service/history_trim.h"

#include <algorithm>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "service/keys.h"
#include "service/records.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

// The conversation whose log entries are being examined.
struct Trimming {
  std::string conversation;
  std::uint64_t last_deleted = 0;  // the seq of the last entry deleted, 0: none
  bool kept = false;               // an entry stays (the rest of the log is newer)
};

}  // namespace

std::size_t HistoryTrim::sweep(std::uint64_t retention_ms, std::int64_t now_ms) {
  std::uint64_t now = now_ms > 0 ? static_cast<std::uint64_t>(now_ms) : 0;
  if (retention_ms == 0 || now <= retention_ms) return 0;
  Command command;
  command.kind = CommandKind::trim_history;
  command.time_ms = now;
  command.cutoff_ms = now - retention_ms;
  command.max_visits = max_visits;
  std::vector<std::uint8_t> encoded = encode_command(command);
  std::size_t proposed = 0;
  for (PartitionId partition : proposer_.readable_partitions()) {
    for (std::size_t round = 0; round < max_rounds; ++round) {
      // Shared with the callback, which may run after a timed-out wait gave up on it.
      auto outcome = std::make_shared<std::promise<ApplyResult>>();
      std::future<ApplyResult> future = outcome->get_future();
      proposer_.propose(partition, encoded,
                        [outcome](ApplyResult result) { outcome->set_value(std::move(result)); });
      ++proposed;
      if (future.wait_for(outcome_timeout) != std::future_status::ready) break;
      ApplyResult result = future.get();
      if (result.error || !result.more || !proposer_.readable(partition)) break;
    }
  }
  return proposed;
}

ApplyResult HistoryTrim::apply(const ApplyContext& context) {
  const Command& command = context.command;
  store::WriteBatch& batch = context.batch;
  auto failure = [](Error error) { return ApplyResult{std::move(error), std::nullopt}; };
  // The cursor is the partition's own record: the log key that is the prefix alone, which
  // sorts before every log key of the partition (and is skipped below).
  const std::string prefix = keys::partition_prefix(context.partition);
  std::string value, start;
  Error error = kv_.get(store::Column::log, prefix, value);
  if (!error) {
    // A cursor that does not decode or points elsewhere restarts from the first key.
    if (!decode_prune_cursor(value, start) || !start.starts_with(prefix)) start.clear();
  } else if (error.code != errc::not_found) {
    return failure(internal("reading the trim cursor failed: " + error.message));
  }

  // At least one key per command, so that successive trims always make progress.
  const std::uint32_t budget = std::clamp<std::uint32_t>(command.max_visits, 1, visits_cap);
  std::uint32_t visited = 0;
  Trimming current;
  // A conversation left behind with every entry deleted keeps its head in a log floor.
  auto finish = [&] {
    if (current.last_deleted == 0 || current.kept) return;
    std::string floor = prefix;
    floor += current.conversation;
    floor += keys::separator;
    batch.put(store::Column::log, floor, encode_log_floor(current.last_deleted));
  };
  std::string resume;  // where the budget ran out
  for (;;) {
    std::string skip_to;  // past the current conversation, once an entry stays
    error = kv_.scan(store::Column::log, prefix, start, false,
                     [&](std::string_view key, std::string_view bytes) {
                       if (key.size() == prefix.size()) return true;  // the cursor itself
                       std::string_view rest = key.substr(prefix.size());
                       std::size_t end = rest.find(keys::separator);
                       std::string_view conversation = rest.substr(0, end);
                       if (conversation != current.conversation) {
                         finish();
                         current = Trimming{std::string(conversation)};
                       }
                       if (visited == budget) {
                         resume.assign(key);
                         return false;
                       }
                       ++visited;
                       std::string_view seq_bytes = end == std::string_view::npos
                                                        ? std::string_view()
                                                        : rest.substr(end + 1);
                       if (end != std::string_view::npos && seq_bytes.empty())
                         return true;  // a log floor
                       // An entry that does not decode has no known age: it stays, and with it the
                       // rest of its conversation.
                       Message message;
                       if (seq_bytes.size() == 8 && decode_log_entry(bytes, message) &&
                           message.server_time_ms < command.cutoff_ms) {
                         batch.erase(store::Column::log, key);
                         current.last_deleted = keys::read_be64(seq_bytes);
                         return true;
                       }
                       current.kept = true;
                       skip_to = prefix;
                       skip_to += conversation;
                       skip_to += static_cast<char>(keys::separator + 1);
                       return false;
                     });
    if (error) return failure(internal("scanning the log failed: " + error.message));
    if (skip_to.empty()) break;
    start = std::move(skip_to);
  }

  ApplyResult result;
  if (!resume.empty()) {
    batch.put(store::Column::log, prefix, encode_prune_cursor(resume));
    result.more = true;
  } else {
    finish();
    batch.erase(store::Column::log, prefix);
  }
  return result;
}

}  // namespace qim::service
