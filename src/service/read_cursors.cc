#include "service/read_cursors.h"

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "service/records.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

// Counts a flush from its hand-off to the shell until its take ran or was dropped (when the
// last copy of the closure holding it goes), so that in_flight() never reads zero in between.
class ScheduledTake {
 public:
  explicit ScheduledTake(std::shared_ptr<std::atomic<std::size_t>> count)
      : count_(std::move(count)) {
    count_->fetch_add(1);
  }
  ~ScheduledTake() { count_->fetch_sub(1); }
  ScheduledTake(const ScheduledTake&) = delete;
  ScheduledTake& operator=(const ScheduledTake&) = delete;

 private:
  std::shared_ptr<std::atomic<std::size_t>> count_;
};

}  // namespace

ReadCursors::ReadCursors(store::Kv& kv, const Keys& keys, Proposer& proposer)
    : kv_(kv),
      keys_(keys),
      proposer_(proposer),
      buffer_(std::make_shared<CursorBuffer>(keys.partitions().count())) {}

Error ReadCursors::read(std::string_view user, std::string_view device,
                        std::string_view conversation, std::uint64_t& seq) const {
  return read_key(keys_.partition_of(user), keys_.cursor(user, conversation, device), seq);
}

Error ReadCursors::read_key(PartitionId partition, std::string_view key, std::uint64_t& seq) const {
  // The buffer may be ahead of the store, and the store ahead of the buffer (an Ack is buffered
  // without reading the store): the higher wins. The buffer first: a value that leaves it has
  // been applied by then, so the store read after it has that value at least.
  seq = buffer_->read(partition, key).value_or(0);
  std::string value;
  Error error = kv_.get(store::Column::cursors, key, value);
  if (!error) {
    std::uint64_t stored = 0;
    if (!decode_cursor(value, stored)) return internal("a read cursor is corrupted");
    seq = std::max(seq, stored);
  } else if (error.code != errc::not_found) {
    return internal("reading a read cursor failed: " + error.message);
  }
  return {};
}

void ReadCursors::raise(const Caller& caller, std::string_view conversation, std::uint64_t seq,
                        std::uint64_t time_ms, Done done) {
  if (seq == 0) return done({});
  PartitionId partition = keys_.partition_of(caller.user);
  std::string key = keys_.cursor(caller.user, conversation, caller.device);
  // No store read: a move below the stored cursor is harmless (apply keeps the higher), and an
  // Ack is answered at once.
  if (buffer_->raise(partition, key, CursorView{caller.user, caller.device, conversation, seq})) {
    return done({});
  }
  // The buffer is full, or the partition is being handed over: this cursor goes on its own, as
  // a command the caller waits for (refused while a leadership transfer is under way).
  Command command;
  command.kind = CommandKind::ack;
  command.time_ms = time_ms;
  command.user = caller.user;
  command.device = caller.device;
  command.session_id = caller.session_id;
  command.conversation = conversation;
  command.seq = seq;
  propose(proposer_, partition, command, std::move(done));
}

std::size_t ReadCursors::flush(std::uint64_t time_ms) {
  std::size_t proposed = 0;
  for (PartitionId partition = 0; partition < keys_.partitions().count(); ++partition) {
    proposed += flush_partition(partition, time_ms);
  }
  return proposed;
}

std::size_t ReadCursors::flush_user(std::string_view user, std::uint64_t time_ms) {
  return flush_partition(keys_.partition_of(user), time_ms);
}

std::size_t ReadCursors::flush_partition(PartitionId partition, std::uint64_t time_ms) {
  // No lease check: a leader whose lease lapsed for a moment still appends, and forgetting its
  // cursors then would lose Acks with no fault at all. A partition led elsewhere has nothing
  // pending (leadership_changed() emptied and sealed it), and the shell does not call the take
  // unless it can append.
  if (buffer_->pending(partition) == 0) return 0;
  // Taken on the shell's thread, in turn with a handover's take (Proposer::propose_taken). The
  // closure may run after this object is gone: it holds the buffer, not `this`.
  auto taken = std::make_shared<std::size_t>(0);
  auto scheduled = std::make_shared<ScheduledTake>(scheduled_takes_);
  proposer_.propose_taken(partition, [buffer = buffer_, partition, time_ms, taken, scheduled] {
    auto commands = take_commands(buffer, partition, time_ms);
    *taken = commands.size();
    return commands;
  });
  return *taken;
}

std::vector<StateMachine::Proposal> ReadCursors::handover(PartitionId partition,
                                                          std::uint64_t time_ms) {
  // Sealed before the take: an Ack that comes between the two would be answered from a buffer
  // nobody flushes any more.
  buffer_->seal(partition, true);
  return take_commands(buffer_, partition, time_ms);
}

std::vector<StateMachine::Proposal> ReadCursors::take_commands(
    const std::shared_ptr<CursorBuffer>& buffer, PartitionId partition, std::uint64_t time_ms) {
  std::vector<StateMachine::Proposal> commands;
  for (;;) {
    auto keys = std::make_shared<std::vector<std::string>>();
    auto moves = std::make_shared<std::vector<CursorMove>>(
        buffer->take(partition, max_moves_per_command, *keys));
    if (moves->empty()) break;
    Command command;
    command.kind = CommandKind::cursors;
    command.time_ms = time_ms;
    command.cursors.reserve(moves->size());
    for (const CursorMove& move : *moves) {
      command.cursors.push_back(CursorView{move.user, move.device, move.conversation, move.seq});
    }
    commands.push_back(StateMachine::Proposal{
        encode_command(command), [buffer, partition, keys, moves](ApplyResult result) {
          buffer->settle(partition, *keys, *moves, !result.error);
        }});
  }
  return commands;
}

Error ReadCursors::apply(const ApplyContext& context) {
  const Command& command = context.command;
  for (const CursorView& cursor : command.cursors) {
    if (keys_.partition_of(cursor.user) != context.partition) {
      return Error{errc::malformed, "command: a cursor is not in this partition"};
    }
  }
  std::string value;
  // A command carries many cursors of each user: each account is read once.
  std::unordered_map<std::string_view, bool> exists;
  for (const CursorView& cursor : command.cursors) {
    // A user deleted since the Ack keeps no cursor (the purge removed the others).
    auto [known, inserted] = exists.try_emplace(cursor.user, false);
    if (inserted) {
      Error error = kv_.get(store::Column::accounts, keys_.account(cursor.user), value);
      if (error && error.code != errc::not_found) {
        return internal("reading an account failed: " + error.message);
      }
      known->second = !error;
    }
    if (!known->second) continue;
    std::string key = keys_.cursor(cursor.user, cursor.conversation, cursor.device);
    Error error = kv_.get(store::Column::cursors, key, value);
    if (!error) {
      std::uint64_t current = 0;
      if (!decode_cursor(value, current)) return internal("a read cursor is corrupted");
      if (current >= cursor.seq) continue;
    } else if (error.code != errc::not_found) {
      return internal("reading a read cursor failed: " + error.message);
    }
    if (cursor.seq == 0) continue;
    context.batch.put(store::Column::cursors, key, encode_cursor(cursor.seq));
  }
  return {};
}

}  // namespace qim::service
