#pragma once
// Groups: create, add, remove, roles, leave, dissolve, members, my groups.
//
// Concurrency: every change to a group holds the stripe of its conversation
// (Conversations::Lock on "g:<group>"), the same one its messages are appended under, so a
// new member's joined_seq is exactly the head + 1 at the moment of joining and a message fans
// out to exactly the members of its time. The cached roster is dropped after each change.
//
// Placement: a group's record, its members and their conversation memberships all live at
// the home of "g:<group>" (service/placement_keys.h), so every change is one local batch; a
// user's group list is gathered from every node. In a cluster, checks of users homed
// elsewhere (existence, group counts, presence) are BLOCKING (service/reach.h).
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "service/conversations.h"
#include "service/options.h"
#include "service/reach.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

inline constexpr std::size_t max_group_name_bytes = 64;

class Groups {
 public:
  Groups(store::Kv& kv, const core::Clock& clock, Reach& reach, Conversations& conversations,
         const Options& options);

  Error create(const Caller& caller, std::string_view group, std::string_view name,
               const std::vector<std::string_view>& members);
  Error add(const Caller& caller, std::string_view group,
            const std::vector<std::string_view>& users);
  Error remove(const Caller& caller, std::string_view group, std::string_view user);
  Error set_role(const Caller& caller, std::string_view group, std::string_view user,
                 GroupRole role);
  Error leave(const Caller& caller, std::string_view group);
  Error dissolve(const Caller& caller, std::string_view group);
  Result<GroupMembersPage> members(const Caller& caller, std::string_view group);
  Result<std::vector<GroupInfo>> my_groups(const Caller& caller);
  // This node's part of user's group list, for the other nodes' gathers.
  Result<std::vector<GroupInfo>> my_groups_here(std::string_view user);
  // How many of user's group memberships this node holds, stopping at `stop_at`.
  Result<std::size_t> count_here(std::string_view user, std::size_t stop_at);

 private:
  // Valid, distinct, existing users not in `skip`, each under the per-user group limit.
  Error check_new_members(const std::vector<std::string_view>& candidates, std::string_view field,
                          const Roster* skip, std::string_view creator,
                          std::vector<std::string>& accepted);
  Result<std::size_t> count_groups(std::string_view user, std::size_t stop_at);
  Error write(store::WriteBatch& batch);
  void push_event(const std::vector<std::string>& to, const Caller& caller, std::string_view group,
                  GroupEventKind kind, std::string_view user, std::string_view by);

  store::Kv& kv_;
  const core::Clock& clock_;
  Reach& reach_;
  Conversations& conversations_;
  const Options& options_;
};

}  // namespace qim::service
