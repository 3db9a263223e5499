#pragma once
// Conversation logs (DESIGN §5, §9): appends with dedup and per-conversation seqs, fan-out of
// new messages to online sessions, reads (pull, history, sync) and read cursors.
//
// Concurrency: one mutex stripe per conversation hash (stripe_count stripes; no global lock on
// the message path). A stripe guards, for the conversations hashed to it, the cached head seq
// and the cached group roster, and serialises appends, so seqs are assigned and pushed in
// order. Group membership changes (groups.cc) take the same stripe, so a member's joined_seq
// and the roster a message fans out to are exact.
// Lock ordering: conversation stripe -> registry shard (leaf). Nothing here takes a user
// stripe (friends/accounts) while holding a conversation stripe.
//
// Caches are bounded per stripe and are pure caches: an evicted head is reloaded with one
// reverse seek over the log, an evicted roster with one prefix scan of the members.
#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "service/counters.h"
#include "service/options.h"
#include "service/reach.h"
#include "service/records.h"
#include "service/striped_mutex.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

struct RosterEntry {
  std::string user;
  GroupRole role = GroupRole::member;
  std::uint64_t joined_seq = 1;
};

// A group and its members as stored, sorted by user id.
struct Roster {
  GroupRecord group;
  std::vector<RosterEntry> members;

  const RosterEntry* find(std::string_view user) const;
};

class Conversations {
 public:
  static constexpr std::size_t stripe_count = 1024;
  static constexpr std::size_t max_cached_heads_per_stripe = 1024;
  static constexpr std::size_t max_cached_roster_entries_per_stripe = 8192;
  // Reply pages stay below the frame limit by this margin (envelope and table overhead).
  static constexpr std::size_t frame_margin_bytes = 1024;
  // Dedup entries examined per prune_dedup call.
  static constexpr std::size_t max_prune_visits = 10'000;

  Conversations(store::Kv& kv, const core::Clock& clock, Reach& reach, const Options& options,
                Counters& counters);

  struct Stripe {
    std::mutex mutex;
    std::unordered_map<std::string, std::uint64_t> heads;  // GUARDED_BY(mutex)
    std::unordered_map<std::string, Roster> rosters;       // by group id; GUARDED_BY(mutex)
    std::size_t roster_entries = 0;                        // GUARDED_BY(mutex)
  };

  // Holds the stripe of one conversation.
  class Lock {
   public:
    Lock(Conversations& conversations, std::string_view conversation)
        : stripe_(conversations.stripe_for(conversation)), lock_(stripe_.mutex) {}
    Stripe& stripe() { return stripe_; }

   private:
    Stripe& stripe_;
    std::unique_lock<std::mutex> lock_;
  };

  // The last seq of `conversation` (0 when empty). REQUIRES: `lock` holds its stripe.
  Error head(Lock& lock, std::string_view conversation, std::uint64_t& head_seq);
  // The group's roster; not_found when there is no such group. The pointer is valid while
  // `lock` is held and the roster is not forgotten. REQUIRES: `lock` holds the stripe of
  // group_conversation(group).
  Error roster(Lock& lock, std::string_view group, const Roster*& roster);
  // Drops the cached roster after its records changed. REQUIRES: as for roster().
  void forget_roster(Lock& lock, std::string_view group);
  // Drops what is cached of `conversation` (its head, and its roster for a group) after its
  // records were written or deleted outside the service (a handoff between nodes).
  void forget(std::string_view conversation);

  // Appends a direct message from caller to `peer` (policy already checked) and pushes it.
  Result<SendResult> append_direct(const Caller& caller, std::string_view peer,
                                   std::uint64_t client_msg_id, std::string_view body);
  // Appends a group message (the caller must be a member) and pushes it to the members.
  Result<SendResult> append_group(const Caller& caller, std::string_view group,
                                  std::uint64_t client_msg_id, std::string_view body);

  // Messages with seq > after_seq that the caller may read, oldest first.
  Result<MessagePage> pull(const Caller& caller, std::string_view conversation,
                           std::uint64_t after_seq, std::uint32_t limit);
  // The messages just before before_seq (0: the newest), returned oldest first.
  Result<MessagePage> history(const Caller& caller, std::string_view conversation,
                              std::uint64_t before_seq, std::uint32_t limit);
  // Moves this device's read cursor (kept here, at the caller's home) forward, never
  // backwards; seq must not pass the head. BLOCKING in a cluster when the conversation's home
  // is another node.
  Error ack(const Caller& caller, std::string_view conversation, std::uint64_t seq);
  // Every conversation of the caller with its head, this device's cursor and first seq,
  // gathered from every node in a cluster (BLOCKING there).
  Result<std::vector<ConversationState>> sync(const Caller& caller);
  // For the other nodes: this node's part of user's conversations (read_seq 0), and one
  // conversation's head with the first seq user may read (an error when they may not).
  Result<std::vector<ConversationState>> sync_here(std::string_view user);
  Result<ConversationState> head_here(std::string_view user, std::string_view conversation);

  // Deletes dedup entries older than the retention, examining at most max_prune_visits
  // entries; successive calls walk the whole column. Returns how many were deleted.
  std::size_t prune_dedup(std::int64_t now_ms);

  // The page size actually used for a requested limit (0: the default; over the maximum: the
  // maximum).
  std::uint32_t page_limit(std::uint32_t requested) const;

 private:
  Stripe& stripe_for(std::string_view conversation) {
    return stripes_[std::hash<std::string_view>{}(conversation) % stripe_count];
  }
  // The first seq `user` may read in `conversation`, or an error when they may not read it.
  Error first_readable_seq(std::string_view user, std::string_view conversation,
                           std::uint64_t& first_seq);
  Result<SendResult> append_locked(Lock& lock, const Caller& caller, std::string_view conversation,
                                   std::string_view peer, std::uint64_t client_msg_id,
                                   std::string_view body, const Roster* roster);
  std::size_t page_budget_bytes() const;

  store::Kv& kv_;
  const core::Clock& clock_;
  Reach& reach_;
  const Options& options_;
  Counters& counters_;
  std::array<Stripe, stripe_count> stripes_;
  StripedMutex<256> cursor_mutexes_;  // by cursor key

  std::mutex prune_mutex_;
  std::string prune_cursor_;  // GUARDED_BY(prune_mutex_): the next dedup key to examine
};

}  // namespace qim::service
