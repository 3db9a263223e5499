#pragma once
// The seam between the IM service and replication (DESIGN §8). Every write the service makes
// is a command (schemas/command.fbs) proposed to the Raft group of the partition that holds its
// records; once committed, every replica applies it in log order through the StateMachine, and
// the proposer gets the outcome of its own application. Reads are served by the partition's
// leader while it holds a lease (Proposer::readable).
//
// The replication shell (src/replica/) implements Proposer and drives a StateMachine; unit
// tests use an inline proposer that applies each command at once.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "qim/errc.h"
#include "route/partitions.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

using route::PartitionId;

// What applying one command produced, for its proposer.
struct ApplyResult {
  Error error;                     // the command's refusal (deterministic), or ok
  std::optional<SendResult> sent;  // a Send's seq, time and duplicate flag
  bool more = false;               // a bounded sweep (TrimHistory) stopped before the end
};

// Implemented by the service: applies committed commands. Deterministic: the outcome and the
// writes depend only on the command and the partition's applied state (never on the clock,
// randomness, other partitions or other nodes), so every replica ends in the same state.
class StateMachine {
 public:
  virtual ~StateMachine() = default;

  // Applies one committed command of `partition`, adding its writes to `batch`. The batch holds
  // no other command's writes on entry (only, maybe, the shell's own Raft records of the cycle),
  // and is written (with the shell's applied-index record) before the next command is
  // applied, unless both commands may share a batch (can_share_batch): so each command reads
  // what the previous ones wrote, or only what the state machine itself keeps of the unwritten
  // ones until after_write. `leader`: this replica leads
  // the partition now, so it pushes the command's events to the sessions (followers apply
  // silently). A command that does not decode is refused with `malformed` and writes nothing.
  // REQUIRES: one thread at a time per partition, in log order.
  virtual ApplyResult apply(PartitionId partition, std::span<const std::uint8_t> command,
                            store::WriteBatch& batch, bool leader) = 0;

  // Whether `command` may be applied into a batch that holds other commands' writes not in
  // the store yet (of any partition), and leave its own there for the next ones: true only
  // when its apply reads nothing those may write but what the state machine tracks itself
  // until after_write. The shell writes once for a run of such commands (one store write per
  // ready cycle on the hot path); any other command is applied and written alone.
  virtual bool can_share_batch(std::span<const std::uint8_t> /*command*/) const { return false; }

  // After the batch holding the commands last applied to `partition` was written to the store
  // (ok) or not: what they produced for others (pushes) may go now, and not before, so a
  // client pushed a message can read it at once.
  virtual void after_write(PartitionId /*partition*/, bool /*written*/) {}

  // After the shell replaced or removed `partition`'s records under the state machine (a
  // snapshot installed, a replica dropped): forget whatever is cached of them.
  virtual void forget_partition(PartitionId partition) = 0;

  // A command the shell appends to a partition's log for the state machine.
  struct Proposal {
    std::vector<std::uint8_t> command;
    std::function<void(ApplyResult)> done;
  };
  // Called by the shell just before this node hands `partition`'s leadership to another
  // replica: commands to append while it still leads, for state the leader holds only in memory
  // (buffered read cursors), so the next leader has it.
  virtual std::vector<Proposal> before_handover(PartitionId /*partition*/) { return {}; }
  // This node started (`leading`) or stopped leading `partition`: whatever the state machine
  // keeps only for its own leadership (buffered read cursors) starts afresh.
  virtual void leadership_changed(PartitionId /*partition*/, bool /*leading*/) {}
};

// Implemented by the replication shell. Thread-safe.
class Proposer {
 public:
  virtual ~Proposer() = default;

  // Proposes `command` (a verified-by-construction Command FlatBuffer) to `partition`'s group.
  // `done` is called exactly once, from any thread (usually the shell's apply thread, right
  // after the command was applied here), with the command's ApplyResult; or, when the outcome is
  // not known, with an error: `unavailable` (this node does not lead the partition, there is no
  // leader now, leadership moved before the entry committed, or it did not commit in time). A
  // proposer that gets `unavailable` may retry: every command is safe to apply twice or is
  // refused the second time (sends are deduplicated on (sender, client_msg_id)).
  // Commands proposed from one thread to one partition enter its log in the order proposed.
  virtual void propose(PartitionId partition, std::vector<std::uint8_t> command,
                       std::function<void(ApplyResult)> done) = 0;

  // Proposes the commands `take` returns, calling it on the shell's own thread right before they
  // are appended, in turn with before_handover: what `take` removes from state that a handover
  // also takes (buffered read cursors) is never taken before a handover starts and appended
  // after it, when a transfer in progress refuses the append and the state would go with the
  // leadership. `take` is not called while this node cannot append to the partition (it does
  // not lead it, or is handing it over). Inline proposers call it at once.
  virtual void propose_taken(PartitionId partition,
                             std::function<std::vector<StateMachine::Proposal>()> take) {
    for (StateMachine::Proposal& proposal : take())
      propose(partition, std::move(proposal.command), std::move(proposal.done));
  }

  // Whether this node may serve reads of `partition` now: it leads the partition, holds a
  // lease, and has applied every entry committed before its term began.
  virtual bool readable(PartitionId partition) const = 0;

  // The partitions readable() holds for now (for the parts of users' lists this node answers).
  virtual std::vector<PartitionId> readable_partitions() const = 0;
};

}  // namespace qim::service
