#pragma once
// Conversation logs (DESIGN §5, §9): appends with dedup and per-conversation seqs, fan-out of
// new messages to online sessions, reads (pull, history, sync), read cursors and dedup pruning.
//
// Writes are commands (service/commands.h): send() and ack() check what they can at the leader
// and propose; apply_send() and apply_ack() decide exactly, in log order, on the partition's
// applied state (the store and PartitionCaches). Apply is serial per partition, so seqs are
// assigned and pushed in order without a lock of their own.
//
// Thread-safety: the proposing and reading methods may be called from any thread; the apply_*
// methods only by the partition's apply thread (StateMachine::apply's REQUIRES).
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "service/apply_context.h"
#include "service/counters.h"
#include "service/events.h"
#include "service/keys.h"
#include "service/options.h"
#include "service/partition_caches.h"
#include "service/reach.h"
#include "service/read_cursors.h"
#include "service/recent_sends.h"
#include "service/replication.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

class Conversations {
 public:
  // Reply pages stay below the frame limit by this margin (envelope and table overhead).
  static constexpr std::size_t frame_margin_bytes = 1024;
  // Dedup entries one prune command examines in its partition.
  static constexpr std::uint32_t max_prune_visits = 10'000;

  Conversations(store::Kv& kv, const Keys& keys, Proposer& proposer, PartitionCaches& caches,
                Events& events, Reach& reach, const core::Clock& clock, const Options& options,
                Counters& counters);

  // Proposes a message from the caller (its fields valid, the policy and the recipient's
  // existence already checked). `friends_only`: apply refuses it unless the two are friends.
  void append(const Caller& caller, const SendRequest& request, bool friends_only,
              ResultDone<SendResult> done);
  // Moves this device's read cursor (kept with the caller's account) forward, never backwards;
  // seq must not pass the head. Answered once the cursor is buffered (service/read_cursors.h).
  // BLOCKING in a cluster when the conversation's home is another node.
  void ack(const Caller& caller, std::string_view conversation, std::uint64_t seq, Done done);
  // Proposes a prune of the dedup entries older than the retention to every partition this
  // node leads; returns how many prunes it proposed.
  std::size_t prune_dedup(std::int64_t now_ms);

  // Messages with seq > after_seq that the caller may read, oldest first.
  Result<MessagePage> pull(const Caller& caller, std::string_view conversation,
                           std::uint64_t after_seq, std::uint32_t limit);
  // The messages just before before_seq (0: the newest), returned oldest first.
  Result<MessagePage> history(const Caller& caller, std::string_view conversation,
                              std::uint64_t before_seq, std::uint32_t limit);
  // Every conversation of the caller with its head, this device's cursor and first seq,
  // gathered from every node in a cluster (BLOCKING there).
  Result<std::vector<ConversationState>> sync(const Caller& caller);
  // This node's part of user's conversations (read_seq 0): those in `partitions` (led here).
  Result<std::vector<ConversationState>> sync_here(std::string_view user,
                                                   std::span<const PartitionId> partitions);
  // One conversation's head with the first seq user may read (an error when they may not).
  Result<ConversationState> head_here(std::string_view user, std::string_view conversation);

  // Buffered read cursors (flushed by the shell, applied as `cursors` commands).
  ReadCursors& cursors() { return cursors_; }
  const ReadCursors& cursors() const { return cursors_; }

  // Apply side. Sends share the shell's write batch (service/replication.h): what a send
  // wrote and the next send may read (its message's sender and id, its head) is kept in
  // memory until the batch is in the store, then written() lets it be evicted.
  ApplyResult apply_send(const ApplyContext& context);
  void written(PartitionId partition);
  // A direct conversation whose last membership goes (both users deleted): its log goes too,
  // so that a conversation without memberships is always empty (apply_send relies on it).
  // REQUIRES: on the apply thread of `partition`, with nothing of it unwritten.
  void drop_direct(PartitionId partition, std::string_view conversation, store::WriteBatch& batch);
  // The partition's records were replaced (REQUIRES: no apply of it runs).
  void forget_partition(PartitionId partition) { recent_.forget_partition(partition); }
  Error apply_ack(const ApplyContext& context);
  Error apply_prune(const ApplyContext& context);

  // The page size actually used for a requested limit (0: the default; over the maximum: the
  // maximum).
  std::uint32_t page_limit(std::uint32_t requested) const;

 private:
  // The first seq `user` may read in `conversation`, or an error when they may not read it.
  Error first_readable_seq(std::string_view user, std::string_view conversation,
                           std::uint64_t& first_seq);
  std::size_t page_budget_bytes() const;

  store::Kv& kv_;
  const Keys& keys_;
  Proposer& proposer_;
  PartitionCaches& caches_;
  Events& events_;
  Reach& reach_;
  const core::Clock& clock_;
  const Options& options_;
  Counters& counters_;
  ReadCursors cursors_;
  RecentSends recent_;  // apply side only
};

}  // namespace qim::service
