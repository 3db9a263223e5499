#pragma once
// Friendships: requests, accept, decline, remove, the list with presence, and presence
// announcements. Both sides' records change in one command.
//
// Placement: both records of a pair live in the partition of the pair's direct conversation
// (service/placement_keys.h), so every change is one command of one partition; a user's list is
// gathered from every partition. Checks of the other user (existence, friend counts) read other
// partitions: they run at the leader before proposing and are advisory (two requests racing
// may both pass a count); the pair's state transitions are decided exactly at apply. In a
// cluster, methods that look at users homed elsewhere (their existence, presence, counts) are
// BLOCKING (service/reach.h).
//
// Thread-safety: the proposing and reading methods may be called from any thread; apply() only
// by the partition's apply thread.
#include <span>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "service/apply_context.h"
#include "service/events.h"
#include "service/keys.h"
#include "service/options.h"
#include "service/reach.h"
#include "service/replication.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

class Friends {
 public:
  Friends(store::Kv& kv, const Keys& keys, Proposer& proposer, Events& events, Reach& reach,
          const core::Clock& clock, const Options& options);

  // Requests friendship with `other`; accepts instead when `other` already asked the caller.
  void request(const Caller& caller, std::string_view other, Done done);
  void accept(const Caller& caller, std::string_view other, Done done);
  void decline(const Caller& caller, std::string_view other, Done done);
  // Ends a friendship or withdraws a pending request, either way.
  void remove(const Caller& caller, std::string_view other, Done done);
  // Every friend record of the caller, with presence for accepted friends.
  Result<std::vector<FriendEntry>> list(const Caller& caller);
  // This node's part of user's list (no presence): what `partitions` (led here) hold.
  Result<std::vector<FriendEntry>> list_here(std::string_view user,
                                             std::span<const PartitionId> partitions);
  // How many of user's friend records this node reads, stopping at `stop_at`.
  Result<std::size_t> count_here(std::string_view user, std::size_t stop_at);

  // The state of user's side of the pair (none when there is no record); Unavailable when this
  // node does not read the pair's partition.
  Result<FriendState> state(std::string_view user, std::string_view other);
  // The same from the store, for apply.
  static Result<FriendState> read_state(store::Kv& kv, const Keys& keys, std::string_view user,
                                        std::string_view other);

  // Pushes PresenceEvent{user, online} to user's online accepted friends.
  void announce_presence(std::string_view user, bool online);

  // Applies friend_request, friend_accept, friend_decline or friend_remove.
  Error apply(const ApplyContext& context);

 private:
  Error check_other(const Caller& caller, std::string_view other);
  void propose_change(CommandKind kind, const Caller& caller, std::string_view other, Done done);
  // Counts user's friend records cluster-wide (this node's stopping at `stop_at`).
  Result<std::size_t> count(std::string_view user, std::size_t stop_at);
  // user's records from every node, sorted by the other user, without presence.
  Result<std::vector<FriendEntry>> gather(std::string_view user);
  void write_pair(const ApplyContext& context, FriendState user_state, FriendState other_state);
  void erase_pair(const ApplyContext& context);
  void push_event(const ApplyContext& context, FriendEventKind kind);
  Error apply_accept(const ApplyContext& context);

  store::Kv& kv_;
  const Keys& keys_;
  Proposer& proposer_;
  Events& events_;
  Reach& reach_;
  const core::Clock& clock_;
  const Options& options_;
};

}  // namespace qim::service
