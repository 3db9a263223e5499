#pragma once
// Friendships: requests, accept, decline, remove, the list with presence, and presence
// announcements. Both sides' records change in one WriteBatch.
//
// Placement: both records of a pair live at the home of the pair's direct conversation
// (service/placement_keys.h), so every change here is one local batch; a user's list is
// gathered from every node. In a cluster, methods that look at users homed elsewhere (their
// existence, presence, counts) are BLOCKING (service/reach.h).
//
// Thread-safety: all methods may be called from any thread. A change to the pair (a, b)
// holds both users' stripes (taken in stripe order). Pushes go through Reach, whose local
// shard locks are leaves and whose remote pushes never block.
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "service/options.h"
#include "service/reach.h"
#include "service/striped_mutex.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

class Friends {
 public:
  Friends(store::Kv& kv, const core::Clock& clock, Reach& reach, const Options& options);

  // Requests friendship with `other`; accepts instead when `other` already asked the caller.
  Error request(const Caller& caller, std::string_view other);
  Error accept(const Caller& caller, std::string_view other);
  Error decline(const Caller& caller, std::string_view other);
  // Ends a friendship or withdraws a pending request, either way.
  Error remove(const Caller& caller, std::string_view other);
  // Every friend record of the caller, with presence for accepted friends.
  Result<std::vector<FriendEntry>> list(const Caller& caller);
  // This node's part of user's list (no presence), for the other nodes' gathers.
  Result<std::vector<FriendEntry>> list_here(std::string_view user);
  // How many of user's friend records this node holds, stopping at `stop_at`.
  Result<std::size_t> count_here(std::string_view user, std::size_t stop_at);

  // The state of user's side of the pair (none when there is no record).
  Result<FriendState> state(std::string_view user, std::string_view other);

  // Pushes PresenceEvent{user, online} to user's online accepted friends.
  void announce_presence(std::string_view user, bool online);

 private:
  Error check_other(const Caller& caller, std::string_view other);
  // Counts user's friend records cluster-wide (this node's stopping at `stop_at`).
  Result<std::size_t> count(std::string_view user, std::size_t stop_at);
  // user's records from every node, sorted by the other user, without presence.
  Result<std::vector<FriendEntry>> gather(std::string_view user);
  Error write_pair(std::string_view a, std::string_view b, FriendState a_state,
                   FriendState b_state);
  Error erase_pair(std::string_view a, std::string_view b);
  void push_event(std::string_view to, std::string_view about, FriendEventKind kind);
  void push_presence(std::string_view to, std::string_view about, bool online);
  Error accept_locked(const Caller& caller, std::string_view other);

  store::Kv& kv_;
  const core::Clock& clock_;
  Reach& reach_;
  const Options& options_;
  StripedMutex<1024> locks_;  // by user id
};

}  // namespace qim::service
