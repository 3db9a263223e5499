#pragma once
// Read cursors (DESIGN §5): each device's position in each conversation, kept with the user's
// account. An Ack is answered once its cursor is in the leader's CursorBuffer
// (service/cursor_buffer.h); flush() then proposes the buffered cursors, many per `cursors`
// command, and apply() writes them, never moving one backwards. An Ack reads no store; readers
// see the higher of the buffered and the stored value.
//
// Thread-safety: thread-safe; apply() only on the partition's apply thread.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "service/apply_context.h"
#include "service/cursor_buffer.h"
#include "service/keys.h"
#include "service/replication.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

class ReadCursors {
 public:
  // Cursors in one `cursors` command: a few hundred KiB at most.
  static constexpr std::size_t max_moves_per_command = 2048;

  ReadCursors(store::Kv& kv, const Keys& keys, Proposer& proposer);

  // The cursor of `user`'s `device` in `conversation` (0: none). REQUIRES: this node leads the
  // user's partition (the caller checked readable()).
  Error read(std::string_view user, std::string_view device, std::string_view conversation,
             std::uint64_t& seq) const;
  // An Ack: raises the caller's cursor to `seq` unless it is as high already (never backwards;
  // that is ok too). `done` is called at once when the buffer takes it (or has it as high),
  // else after a command of its own applied. Same REQUIRES as read().
  void raise(const Caller& caller, std::string_view conversation, std::uint64_t seq,
             std::uint64_t time_ms, Done done);

  // Proposes the buffered cursors of every partition this node leads; flush_user: only that
  // user's partition (a logout). Returns the commands proposed by the time it returns (the
  // shell takes them later, on its own thread).
  std::size_t flush(std::uint64_t time_ms);
  std::size_t flush_user(std::string_view user, std::uint64_t time_ms);
  // The partition's buffered cursors as commands for the shell to append before it hands the
  // leadership over (StateMachine::before_handover). The buffer stays sealed until this node
  // leads the partition again: later Acks are proposed on their own.
  std::vector<StateMachine::Proposal> handover(PartitionId partition, std::uint64_t time_ms);
  // This node started (`leading`) or stopped leading the partition: the buffer starts afresh,
  // open only while leading (sealed before it is emptied, so that no Ack slips in between).
  void leadership_changed(PartitionId partition, bool leading) {
    if (!leading) buffer_->seal(partition, true);
    buffer_->forget(partition);
    if (leading) buffer_->seal(partition, false);
  }
  // Flushed commands not applied yet, and flushes whose take has not run yet (shutdown waits
  // for zero).
  std::size_t in_flight() const { return buffer_->in_flight() + scheduled_takes_->load(); }
  std::size_t buffered() const { return buffer_->entries(); }
  // The partition's data was replaced.
  void forget_partition(PartitionId partition) { buffer_->forget(partition); }
  // `user` was deleted: what is buffered of their cursors goes with them.
  void forget_user(std::string_view user) {
    buffer_->forget(keys_.partition_of(user), keys_.cursors_prefix(user));
  }

  Error apply(const ApplyContext& context);

 private:
  // The cursor under `key` (in `partition`): the higher of the buffered and the stored one.
  Error read_key(PartitionId partition, std::string_view key, std::uint64_t& seq) const;
  std::size_t flush_partition(PartitionId partition, std::uint64_t time_ms);
  // The pending cursors of `partition` as commands, now in flight; their completions hold the
  // buffer.
  static std::vector<StateMachine::Proposal> take_commands(
      const std::shared_ptr<CursorBuffer>& buffer, PartitionId partition, std::uint64_t time_ms);

  store::Kv& kv_;
  const Keys& keys_;
  Proposer& proposer_;
  // Shared with the completions of flushed commands, which may outlive this object.
  std::shared_ptr<CursorBuffer> buffer_;
  // Flushes handed to the shell whose take has not run (or been dropped) yet.
  std::shared_ptr<std::atomic<std::size_t>> scheduled_takes_ =
      std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace qim::service
