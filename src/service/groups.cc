#include "service/groups.h"

#include <algorithm>

#include "qim/ids.h"
#include "service/keys.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {
namespace {

using Lock = Conversations::Lock;

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

Error check_group_id(std::string_view group) {
  if (!is_valid_id(group)) {
    return Error{errc::invalid_argument, "group: must be 1-32 characters from [a-z0-9_.-]"};
  }
  return {};
}

std::vector<std::string> users_of(const Roster& roster) {
  std::vector<std::string> users;
  users.reserve(roster.members.size());
  for (const RosterEntry& entry : roster.members)
    users.push_back(entry.user);
  return users;
}

// The roster of `group` with the caller's entry; not_found / not_member otherwise.
Error load_as_member(Conversations& conversations, Lock& lock, std::string_view group,
                     std::string_view caller, const Roster*& roster, const RosterEntry*& self) {
  if (Error error = conversations.roster(lock, group, roster)) return error;
  self = roster->find(caller);
  if (!self) return Error{errc::not_member, "group: you are not a member"};
  return {};
}

}  // namespace

Groups::Groups(store::Kv& kv, const core::Clock& clock, Reach& reach, Conversations& conversations,
               const Options& options)
    : kv_(kv), clock_(clock), reach_(reach), conversations_(conversations), options_(options) {}

Result<std::size_t> Groups::count_groups(std::string_view user, std::size_t stop_at) {
  auto here = count_here(user, stop_at);
  if (!here.ok()) return here;
  auto elsewhere = reach_.tally_elsewhere(user);
  if (!elsewhere.ok()) return Result<std::size_t>::failure(std::move(elsewhere.error));
  return Result<std::size_t>::success(here.value + elsewhere.value.groups);
}

Result<std::size_t> Groups::count_here(std::string_view user, std::size_t stop_at) {
  std::size_t found = 0;
  Error error = kv_.scan(store::Column::convs, keys::group_convs_prefix(user), {}, false,
                         [&](std::string_view, std::string_view) { return ++found < stop_at; });
  if (error) return Result<std::size_t>::failure(internal("counting groups failed"));
  return Result<std::size_t>::success(found);
}

Error Groups::write(store::WriteBatch& batch) {
  Error error = kv_.write(batch, options_.durability == Durability::fsync);
  if (error) return internal("storing the group failed: " + error.message);
  return {};
}

void Groups::push_event(const std::vector<std::string>& to, const Caller& caller,
                        std::string_view group, GroupEventKind kind, std::string_view user,
                        std::string_view by) {
  proto::FrameBuilder builder(192);
  auto frame = encode_group_event(builder, group, kind, user, by);
  reach_.push_each(
      to, [](const std::string& member) { return std::string_view(member); }, frame, caller.user,
      caller.session_id);
}

Error Groups::check_new_members(const std::vector<std::string_view>& candidates,
                                std::string_view field, const Roster* skip,
                                std::string_view creator, std::vector<std::string>& accepted) {
  std::string prefix(field);
  for (std::string_view user : candidates) {
    if (!is_valid_id(user)) {
      return Error{errc::invalid_argument,
                   prefix + ": '" + std::string(user.substr(0, 40)) + "' is not a valid user id"};
    }
    if (user == creator || (skip && skip->find(user))) continue;
    if (std::find(accepted.begin(), accepted.end(), user) != accepted.end()) continue;
    accepted.emplace_back(user);
  }
  std::size_t current = skip ? skip->members.size() : 1;
  if (current + accepted.size() > options_.max_group_members) {
    return Error{errc::limit_exceeded, prefix + ": a group holds at most " +
                                           std::to_string(options_.max_group_members) + " members"};
  }
  // Every other node is asked about all of them at once (not once per member and node).
  auto checks = reach_.check_users(accepted);
  if (!checks.ok()) return checks.error;
  for (std::size_t i = 0; i < accepted.size(); ++i) {
    const std::string& user = accepted[i];
    const Error& error = checks.value[i].exists;
    if (error.code == errc::not_found) {
      return Error{errc::not_found, prefix + ": no such user " + user};
    }
    if (error) return error;
    auto here = count_here(user, options_.max_groups_per_user);
    if (!here.ok()) return here.error;
    if (here.value + checks.value[i].elsewhere.groups >= options_.max_groups_per_user) {
      return Error{errc::limit_exceeded, prefix + ": " + user + " is in too many groups"};
    }
  }
  return {};
}

Error Groups::create(const Caller& caller, std::string_view group, std::string_view name,
                     const std::vector<std::string_view>& members) {
  if (Error error = check_group_id(group)) return error;
  if (name.size() > max_group_name_bytes) {
    return Error{errc::invalid_argument, "name: at most 64 bytes"};
  }
  std::string conversation = group_conversation(group);
  Lock lock(conversations_, conversation);
  const Roster* existing = nullptr;
  Error error = conversations_.roster(lock, group, existing);
  if (!error) return Error{errc::already_exists, "group: already exists"};
  if (error.code != errc::not_found) return error;

  auto own_groups = count_groups(caller.user, options_.max_groups_per_user);
  if (!own_groups.ok()) return own_groups.error;
  if (own_groups.value >= options_.max_groups_per_user) {
    return Error{errc::limit_exceeded, "group: you are in too many groups"};
  }
  std::vector<std::string> added;
  if (Error check = check_new_members(members, "members", nullptr, caller.user, added)) {
    return check;
  }
  // A re-created group id continues its old log; new members start after it.
  std::uint64_t head_seq = 0;
  if (Error head_error = conversations_.head(lock, conversation, head_seq)) return head_error;
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());

  store::WriteBatch batch;
  GroupRecord record{std::string(name), std::string(caller.user), now_ms,
                     static_cast<std::uint32_t>(added.size() + 1), now_ms};
  batch.put(store::Column::groups, keys::group(group), encode(record));
  MembershipRecord membership{std::string(group), head_seq + 1, now_ms, now_ms};
  auto put_member = [&](std::string_view user, GroupRole role) {
    batch.put(store::Column::members, keys::member(group, user),
              encode(MemberRecord{role, head_seq + 1, now_ms, now_ms}));
    batch.put(store::Column::convs, keys::conv(user, conversation), encode(membership));
  };
  put_member(caller.user, GroupRole::owner);
  for (const std::string& user : added)
    put_member(user, GroupRole::member);
  if (Error write_error = write(batch)) return write_error;
  conversations_.forget_roster(lock, group);

  for (const std::string& user : added) {
    push_event({user}, caller, group, GroupEventKind::added, user, caller.user);
  }
  return {};
}

Error Groups::add(const Caller& caller, std::string_view group,
                  const std::vector<std::string_view>& users) {
  if (Error error = check_group_id(group)) return error;
  if (users.empty()) return Error{errc::invalid_argument, "users: empty"};
  std::string conversation = group_conversation(group);
  Lock lock(conversations_, conversation);
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(conversations_, lock, group, caller.user, roster, self)) {
    return error;
  }
  if (self->role == GroupRole::member) {
    return Error{errc::forbidden, "group: only the owner or an admin may add members"};
  }
  std::vector<std::string> added;
  if (Error error = check_new_members(users, "users", roster, caller.user, added)) return error;
  if (added.empty()) return {};
  std::uint64_t head_seq = 0;
  if (Error error = conversations_.head(lock, conversation, head_seq)) return error;
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());

  store::WriteBatch batch;
  GroupRecord record = roster->group;
  record.member_count = static_cast<std::uint32_t>(roster->members.size() + added.size());
  record.hlc = std::max(record.hlc + 1, now_ms);
  batch.put(store::Column::groups, keys::group(group), encode(record));
  MembershipRecord membership{std::string(group), head_seq + 1, now_ms, now_ms};
  for (const std::string& user : added) {
    batch.put(store::Column::members, keys::member(group, user),
              encode(MemberRecord{GroupRole::member, head_seq + 1, now_ms, now_ms}));
    batch.put(store::Column::convs, keys::conv(user, conversation), encode(membership));
  }
  std::vector<std::string> audience = users_of(*roster);
  if (Error error = write(batch)) return error;
  conversations_.forget_roster(lock, group);

  audience.insert(audience.end(), added.begin(), added.end());
  for (const std::string& user : added) {
    push_event(audience, caller, group, GroupEventKind::added, user, caller.user);
  }
  return {};
}

Error Groups::remove(const Caller& caller, std::string_view group, std::string_view user) {
  if (Error error = check_group_id(group)) return error;
  if (!is_valid_id(user)) return Error{errc::invalid_argument, "user: not a valid user id"};
  std::string conversation = group_conversation(group);
  Lock lock(conversations_, conversation);
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(conversations_, lock, group, caller.user, roster, self)) {
    return error;
  }
  if (self->role == GroupRole::member) {
    return Error{errc::forbidden, "group: only the owner or an admin may remove members"};
  }
  const RosterEntry* target = roster->find(user);
  if (!target) return Error{errc::not_found, "user: not a member of the group"};
  if (target->role == GroupRole::owner) {
    return Error{errc::forbidden, "user: the owner cannot be removed"};
  }
  if (self->role == GroupRole::admin && target->role == GroupRole::admin && user != caller.user) {
    return Error{errc::forbidden, "user: an admin cannot remove another admin"};
  }
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  store::WriteBatch batch;
  GroupRecord record = roster->group;
  record.member_count = static_cast<std::uint32_t>(roster->members.size() - 1);
  record.hlc = std::max(record.hlc + 1, now_ms);
  batch.put(store::Column::groups, keys::group(group), encode(record));
  batch.erase(store::Column::members, keys::member(group, user));
  batch.erase(store::Column::convs, keys::conv(user, conversation));
  std::vector<std::string> audience = users_of(*roster);  // the removed user included
  if (Error error = write(batch)) return error;
  conversations_.forget_roster(lock, group);
  push_event(audience, caller, group, GroupEventKind::removed, user, caller.user);
  return {};
}

Error Groups::set_role(const Caller& caller, std::string_view group, std::string_view user,
                       GroupRole role) {
  if (Error error = check_group_id(group)) return error;
  if (!is_valid_id(user)) return Error{errc::invalid_argument, "user: not a valid user id"};
  if (role != GroupRole::member && role != GroupRole::admin) {
    return Error{errc::invalid_argument, "role: must be Member or Admin"};
  }
  std::string conversation = group_conversation(group);
  Lock lock(conversations_, conversation);
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(conversations_, lock, group, caller.user, roster, self)) {
    return error;
  }
  if (self->role != GroupRole::owner) {
    return Error{errc::forbidden, "group: only the owner may change roles"};
  }
  const RosterEntry* target = roster->find(user);
  if (!target) return Error{errc::not_found, "user: not a member of the group"};
  if (target->role == GroupRole::owner) {
    return Error{errc::invalid_argument, "user: the owner's role cannot change"};
  }
  if (target->role == role) return {};
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  std::string value;
  Error error = kv_.get(store::Column::members, keys::member(group, user), value);
  if (error) return internal("reading the member failed: " + error.message);
  MemberRecord member;
  if (!decode(value, member)) return internal("a member record is corrupted");
  member.role = role;
  member.hlc = std::max(member.hlc + 1, now_ms);
  store::WriteBatch batch;
  batch.put(store::Column::members, keys::member(group, user), encode(member));
  std::vector<std::string> audience = users_of(*roster);
  if (Error write_error = write(batch)) return write_error;
  conversations_.forget_roster(lock, group);
  push_event(audience, caller, group, GroupEventKind::role_changed, user, caller.user);
  return {};
}

Error Groups::leave(const Caller& caller, std::string_view group) {
  if (Error error = check_group_id(group)) return error;
  std::string conversation = group_conversation(group);
  Lock lock(conversations_, conversation);
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(conversations_, lock, group, caller.user, roster, self)) {
    return error;
  }
  if (self->role == GroupRole::owner) {
    return Error{errc::forbidden, "group: the owner cannot leave; dissolve the group instead"};
  }
  std::uint64_t now_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  store::WriteBatch batch;
  GroupRecord record = roster->group;
  record.member_count = static_cast<std::uint32_t>(roster->members.size() - 1);
  record.hlc = std::max(record.hlc + 1, now_ms);
  batch.put(store::Column::groups, keys::group(group), encode(record));
  batch.erase(store::Column::members, keys::member(group, caller.user));
  batch.erase(store::Column::convs, keys::conv(caller.user, conversation));
  std::vector<std::string> audience = users_of(*roster);  // the leaver's other devices too
  if (Error error = write(batch)) return error;
  conversations_.forget_roster(lock, group);
  push_event(audience, caller, group, GroupEventKind::left, caller.user, caller.user);
  return {};
}

Error Groups::dissolve(const Caller& caller, std::string_view group) {
  if (Error error = check_group_id(group)) return error;
  std::string conversation = group_conversation(group);
  Lock lock(conversations_, conversation);
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(conversations_, lock, group, caller.user, roster, self)) {
    return error;
  }
  if (self->role != GroupRole::owner) {
    return Error{errc::forbidden, "group: only the owner may dissolve it"};
  }
  // The log stays (bounded by retention); a group re-created with this id starts after it.
  store::WriteBatch batch;
  batch.erase(store::Column::groups, keys::group(group));
  for (const RosterEntry& member : roster->members) {
    batch.erase(store::Column::members, keys::member(group, member.user));
    batch.erase(store::Column::convs, keys::conv(member.user, conversation));
  }
  std::vector<std::string> audience = users_of(*roster);
  if (Error error = write(batch)) return error;
  conversations_.forget_roster(lock, group);
  push_event(audience, caller, group, GroupEventKind::dissolved, {}, caller.user);
  return {};
}

Result<GroupMembersPage> Groups::members(const Caller& caller, std::string_view group) {
  using R = Result<GroupMembersPage>;
  if (Error error = check_group_id(group)) return R::failure(std::move(error));
  GroupMembersPage page;
  {
    Lock lock(conversations_, group_conversation(group));
    const Roster* roster = nullptr;
    const RosterEntry* self = nullptr;
    if (Error error = load_as_member(conversations_, lock, group, caller.user, roster, self)) {
      return R::failure(std::move(error));
    }
    page.info = GroupInfo{std::string(group),  roster->group.name,
                          roster->group.owner, static_cast<std::uint32_t>(roster->members.size()),
                          self->role,          roster->group.created_ms};
    page.members.reserve(roster->members.size());
    for (const RosterEntry& entry : roster->members) {
      page.members.push_back(GroupMemberEntry{entry.user, entry.role, false, entry.joined_seq});
    }
  }
  std::vector<std::string> users;
  users.reserve(page.members.size());
  for (const GroupMemberEntry& member : page.members)
    users.push_back(member.user);
  std::vector<bool> online = reach_.online(users);
  for (std::size_t i = 0; i < page.members.size(); ++i)
    page.members[i].online = online[i];
  return R::success(std::move(page));
}

Result<std::vector<GroupInfo>> Groups::my_groups(const Caller& caller) {
  auto infos = my_groups_here(caller.user);
  if (!infos.ok() || !reach_.cluster_placement()) return infos;
  for (UserParts& part : reach_.cluster()->user_parts_elsewhere(caller.user, UserPart::groups)) {
    for (GroupInfo& info : part.groups)
      infos.value.push_back(std::move(info));
  }
  // A group being handed between nodes may briefly be on both.
  std::sort(infos.value.begin(), infos.value.end(),
            [](const GroupInfo& a, const GroupInfo& b) { return a.group < b.group; });
  infos.value.erase(
      std::unique(infos.value.begin(), infos.value.end(),
                  [](const GroupInfo& a, const GroupInfo& b) { return a.group == b.group; }),
      infos.value.end());
  return infos;
}

Result<std::vector<GroupInfo>> Groups::my_groups_here(std::string_view user) {
  using R = Result<std::vector<GroupInfo>>;
  Caller caller{user, {}, 0};
  std::vector<std::string> groups;
  std::string prefix = keys::convs_prefix(caller.user);
  std::size_t cap = static_cast<std::size_t>(options_.max_groups_per_user) * 2 + 16;
  Error error = kv_.scan(store::Column::convs, keys::group_convs_prefix(caller.user), {}, false,
                         [&](std::string_view key, std::string_view) {
                           // The key's conversation is "g:<group>".
                           groups.emplace_back(keys::suffix(key, prefix).substr(2));
                           return groups.size() < cap;
                         });
  if (error) return R::failure(internal("reading groups failed: " + error.message));
  std::vector<GroupInfo> infos;
  infos.reserve(groups.size());
  for (const std::string& group : groups) {
    Lock lock(conversations_, group_conversation(group));
    const Roster* roster = nullptr;
    const RosterEntry* self = nullptr;
    Error member_error = load_as_member(conversations_, lock, group, caller.user, roster, self);
    // A group dissolved or left meanwhile is simply not listed.
    if (member_error.code == errc::not_found || member_error.code == errc::not_member) continue;
    if (member_error) return R::failure(std::move(member_error));
    infos.push_back(GroupInfo{group, roster->group.name, roster->group.owner,
                              static_cast<std::uint32_t>(roster->members.size()), self->role,
                              roster->group.created_ms});
  }
  return R::success(std::move(infos));
}

}  // namespace qim::service
