#pragma once
// Groups: create, add, remove, roles, leave, dissolve, members, my groups.
//
// Every change is a command of the partition of "g:<group>", where the group's record, its
// members and their conversation memberships live (service/placement_keys.h), the same
// partition as the group's messages: apply is serial there, so a new member's joined_seq is
// exactly the head + 1 at the moment of joining and a message fans out to exactly the members
// of its time. Checks of the new members (existence, how many groups they are in) read other
// partitions: they run at the leader before proposing and are advisory limits; roles,
// membership and the group's size are decided exactly at apply. In a cluster, checks of users
// homed elsewhere are BLOCKING (service/reach.h).
//
// Thread-safety: the proposing and reading methods may be called from any thread; apply() only
// by the partition's apply thread.
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "service/apply_context.h"
#include "service/events.h"
#include "service/keys.h"
#include "service/options.h"
#include "service/partition_caches.h"
#include "service/reach.h"
#include "service/replication.h"
#include "service/types.h"
#include "store/kv.h"

namespace qim::service {

inline constexpr std::size_t max_group_name_bytes = 64;

class Groups {
 public:
  Groups(store::Kv& kv, const Keys& keys, Proposer& proposer, PartitionCaches& caches,
         Events& events, Reach& reach, const core::Clock& clock, const Options& options);

  void create(const Caller& caller, std::string_view group, std::string_view name,
              const std::vector<std::string_view>& members, Done done);
  void add(const Caller& caller, std::string_view group, const std::vector<std::string_view>& users,
           Done done);
  void remove(const Caller& caller, std::string_view group, std::string_view user, Done done);
  void set_role(const Caller& caller, std::string_view group, std::string_view user, GroupRole role,
                Done done);
  void leave(const Caller& caller, std::string_view group, Done done);
  void dissolve(const Caller& caller, std::string_view group, Done done);
  Result<GroupMembersPage> members(const Caller& caller, std::string_view group);
  // The group and its members as an administrator sees them (no membership needed; the info's
  // role is the owner's).
  Result<GroupMembersPage> inspect(std::string_view group);
  Result<std::vector<GroupInfo>> my_groups(const Caller& caller);
  // This node's part of user's group list (what `partitions`, led here, hold).
  Result<std::vector<GroupInfo>> my_groups_here(std::string_view user,
                                                std::span<const PartitionId> partitions);
  // How many of user's group memberships this node reads, stopping at `stop_at`.
  Result<std::size_t> count_here(std::string_view user, std::size_t stop_at);

  // Applies the group_* commands.
  Error apply(const ApplyContext& context);

 private:
  // Valid, distinct, existing users not in `skip`, each under the per-user group limit.
  Error check_new_members(const std::vector<std::string_view>& candidates, std::string_view field,
                          const Roster* skip, std::string_view creator,
                          std::vector<std::string>& accepted);
  Result<std::size_t> count_groups(std::string_view user, std::size_t stop_at);
  Command command_for(CommandKind kind, const Caller& caller, std::string_view group) const;
  Result<GroupMembersPage> page_of(const Roster& roster, std::string_view group, GroupRole role);
  void push_event(const ApplyContext& context, const std::vector<std::string>& to,
                  GroupEventKind kind, std::string_view user);

  Error apply_create(const ApplyContext& context);
  Error apply_add(const ApplyContext& context);
  Error apply_remove(const ApplyContext& context);
  Error apply_set_role(const ApplyContext& context);
  Error apply_leave(const ApplyContext& context);
  Error apply_dissolve(const ApplyContext& context);

  store::Kv& kv_;
  const Keys& keys_;
  Proposer& proposer_;
  PartitionCaches& caches_;
  Events& events_;
  Reach& reach_;
  const core::Clock& clock_;
  const Options& options_;
};

}  // namespace qim::service
