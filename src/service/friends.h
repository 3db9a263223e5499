#pragma once
// Friendships: requests, accept, decline, remove, the list with presence, and presence
// announcements. Both sides' records change in one WriteBatch.
//
// Thread-safety: all methods may be called from any thread. A change to the pair (a, b)
// holds both users' stripes (taken in stripe order). Pushes go through the registry, whose
// shard locks are leaves.
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "service/accounts.h"
#include "service/options.h"
#include "service/session_registry.h"
#include "service/striped_mutex.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

class Friends {
 public:
  Friends(store::Kv& kv, const core::Clock& clock, SessionRegistry& registry, Accounts& accounts,
          const Options& options);

  // Requests friendship with `other`; accepts instead when `other` already asked the caller.
  Error request(const Caller& caller, std::string_view other);
  Error accept(const Caller& caller, std::string_view other);
  Error decline(const Caller& caller, std::string_view other);
  // Ends a friendship or withdraws a pending request, either way.
  Error remove(const Caller& caller, std::string_view other);
  Result<std::vector<FriendEntry>> list(const Caller& caller);

  // The state of user's side of the pair (none when there is no record).
  Result<FriendState> state(std::string_view user, std::string_view other);

  // Pushes PresenceEvent{user, online} to user's online accepted friends.
  void announce_presence(std::string_view user, bool online);

 private:
  Error check_other(const Caller& caller, std::string_view other);
  // Counts user's friend records, stopping at `stop_at`.
  Result<std::size_t> count(std::string_view user, std::size_t stop_at);
  Error write_pair(std::string_view a, std::string_view b, FriendState a_state,
                   FriendState b_state);
  Error erase_pair(std::string_view a, std::string_view b);
  void push_event(std::string_view to, std::string_view about, FriendEventKind kind);
  void push_presence(std::string_view to, std::string_view about, bool online);
  Error accept_locked(const Caller& caller, std::string_view other);

  store::Kv& kv_;
  const core::Clock& clock_;
  SessionRegistry& registry_;
  Accounts& accounts_;
  const Options& options_;
  StripedMutex<1024> locks_;  // by user id
};

}  // namespace qim::service
