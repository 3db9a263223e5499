#include "service/groups.h"

#include <algorithm>

#include "qim/ids.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {
namespace {

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

Error too_many_members(std::string_view field, std::uint32_t max_members) {
  return Error{errc::limit_exceeded, std::string(field) + ": a group holds at most " +
                                         std::to_string(max_members) + " members"};
}

// The roster of `group` with the caller's entry; not_found / not_member otherwise.
Error load_as_member(PartitionCaches& caches, std::string_view group, std::string_view caller,
                     const Roster*& roster, const RosterEntry*& self) {
  if (Error error = caches.roster(group, roster)) return error;
  self = roster->find(caller);
  if (!self) return Error{errc::not_member, "group: you are not a member"};
  return {};
}

}  // namespace

Groups::Groups(store::Kv& kv, const Keys& keys, Proposer& proposer, PartitionCaches& caches,
               Events& events, Reach& reach, const core::Clock& clock, const Options& options)
    : kv_(kv),
      keys_(keys),
      proposer_(proposer),
      caches_(caches),
      events_(events),
      reach_(reach),
      clock_(clock),
      options_(options) {}

Result<std::size_t> Groups::count_groups(std::string_view user, std::size_t stop_at) {
  auto here = count_here(user, stop_at);
  if (!here.ok()) return here;
  auto elsewhere = reach_.tally_elsewhere(user);
  if (!elsewhere.ok()) return Result<std::size_t>::failure(std::move(elsewhere.error));
  return Result<std::size_t>::success(here.value + elsewhere.value.groups);
}

Result<std::size_t> Groups::count_here(std::string_view user, std::size_t stop_at) {
  std::size_t found = 0;
  for (PartitionId partition : proposer_.readable_partitions()) {
    if (found >= stop_at) break;
    Error error =
        kv_.scan(store::Column::convs, keys_.group_convs_prefix(partition, user), {}, false,
                 [&](std::string_view, std::string_view) { return ++found < stop_at; });
    if (error) return Result<std::size_t>::failure(internal("counting groups failed"));
  }
  return Result<std::size_t>::success(found);
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
    return too_many_members(prefix, options_.max_group_members);
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

Command Groups::command_for(CommandKind kind, const Caller& caller, std::string_view group) const {
  Command command;
  command.kind = kind;
  command.time_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  command.user = caller.user;
  command.device = caller.device;
  command.session_id = caller.session_id;
  command.group = group;
  command.max_members = options_.max_group_members;
  return command;
}

void Groups::create(const Caller& caller, std::string_view group, std::string_view name,
                    const std::vector<std::string_view>& members, Done done) {
  if (Error error = check_group_id(group)) return done(std::move(error));
  if (name.size() > max_group_name_bytes) {
    return done(Error{errc::invalid_argument, "name: at most 64 bytes"});
  }
  PartitionId partition = keys_.partition_of(group_conversation(group));
  if (Error error = require_readable(proposer_, partition, "this group")) {
    return done(std::move(error));
  }
  // Checked before the costlier checks of the members; apply checks again.
  std::string value;
  Error found = kv_.get(store::Column::groups, keys_.group(group), value);
  if (!found) return done(Error{errc::already_exists, "group: already exists"});
  if (found.code != errc::not_found) {
    return done(internal("reading the group failed: " + found.message));
  }
  auto own_groups = count_groups(caller.user, options_.max_groups_per_user);
  if (!own_groups.ok()) return done(std::move(own_groups.error));
  if (own_groups.value >= options_.max_groups_per_user) {
    return done(Error{errc::limit_exceeded, "group: you are in too many groups"});
  }
  std::vector<std::string> added;
  if (Error check = check_new_members(members, "members", nullptr, caller.user, added)) {
    return done(std::move(check));
  }
  Command command = command_for(CommandKind::group_create, caller, group);
  command.name = name;
  command.users.assign(added.begin(), added.end());
  propose(proposer_, partition, command, std::move(done));
}

void Groups::add(const Caller& caller, std::string_view group,
                 const std::vector<std::string_view>& users, Done done) {
  if (Error error = check_group_id(group)) return done(std::move(error));
  if (users.empty()) return done(Error{errc::invalid_argument, "users: empty"});
  PartitionId partition = keys_.partition_of(group_conversation(group));
  if (Error error = require_readable(proposer_, partition, "this group")) {
    return done(std::move(error));
  }
  Roster roster;
  if (Error error = caches_.read_roster(group, roster)) return done(std::move(error));
  const RosterEntry* self = roster.find(caller.user);
  if (!self) return done(Error{errc::not_member, "group: you are not a member"});
  if (self->role == GroupRole::member) {
    return done(Error{errc::forbidden, "group: only the owner or an admin may add members"});
  }
  std::vector<std::string> added;
  if (Error error = check_new_members(users, "users", &roster, caller.user, added)) {
    return done(std::move(error));
  }
  if (added.empty()) return done({});
  Command command = command_for(CommandKind::group_add, caller, group);
  command.users.assign(added.begin(), added.end());
  propose(proposer_, partition, command, std::move(done));
}

void Groups::remove(const Caller& caller, std::string_view group, std::string_view user,
                    Done done) {
  if (Error error = check_group_id(group)) return done(std::move(error));
  if (!is_valid_id(user)) return done(Error{errc::invalid_argument, "user: not a valid user id"});
  Command command = command_for(CommandKind::group_remove, caller, group);
  command.other = user;
  propose(proposer_, keys_.partition_of(group_conversation(group)), command, std::move(done));
}

void Groups::set_role(const Caller& caller, std::string_view group, std::string_view user,
                      GroupRole role, Done done) {
  if (Error error = check_group_id(group)) return done(std::move(error));
  if (!is_valid_id(user)) return done(Error{errc::invalid_argument, "user: not a valid user id"});
  if (role != GroupRole::member && role != GroupRole::admin) {
    return done(Error{errc::invalid_argument, "role: must be Member or Admin"});
  }
  Command command = command_for(CommandKind::group_set_role, caller, group);
  command.other = user;
  command.role = role;
  propose(proposer_, keys_.partition_of(group_conversation(group)), command, std::move(done));
}

void Groups::leave(const Caller& caller, std::string_view group, Done done) {
  if (Error error = check_group_id(group)) return done(std::move(error));
  propose(proposer_, keys_.partition_of(group_conversation(group)),
          command_for(CommandKind::group_leave, caller, group), std::move(done));
}

void Groups::dissolve(const Caller& caller, std::string_view group, Done done) {
  if (Error error = check_group_id(group)) return done(std::move(error));
  propose(proposer_, keys_.partition_of(group_conversation(group)),
          command_for(CommandKind::group_dissolve, caller, group), std::move(done));
}

void Groups::push_event(const ApplyContext& context, const std::vector<std::string>& to,
                        GroupEventKind kind, std::string_view user) {
  if (!context.leader) return;
  const Command& command = context.command;
  proto::FrameBuilder builder(192);
  auto frame = encode_group_event(builder, command.group, kind, user, command.user);
  events_.push(
      context.partition, to, [](const std::string& member) { return std::string_view(member); },
      frame, command.user, command.session_id);
}

Error Groups::apply(const ApplyContext& context) {
  if (keys_.partition_of(group_conversation(context.command.group)) != context.partition) {
    return Error{errc::malformed, "command: the group is not in this partition"};
  }
  switch (context.command.kind) {
    case CommandKind::group_create:
      return apply_create(context);
    case CommandKind::group_add:
      return apply_add(context);
    case CommandKind::group_remove:
      return apply_remove(context);
    case CommandKind::group_set_role:
      return apply_set_role(context);
    case CommandKind::group_leave:
      return apply_leave(context);
    case CommandKind::group_dissolve:
      return apply_dissolve(context);
    default:
      return Error{errc::malformed, "command: not a group command"};
  }
}

Error Groups::apply_create(const ApplyContext& context) {
  const Command& command = context.command;
  if (command.name.size() > max_group_name_bytes) {
    return Error{errc::invalid_argument, "name: at most 64 bytes"};
  }
  const Roster* existing = nullptr;
  Error error = caches_.roster(command.group, existing);
  if (!error) return Error{errc::already_exists, "group: already exists"};
  if (error.code != errc::not_found) return error;
  std::vector<std::string> added;
  for (std::string_view user : command.users) {
    if (user == command.user || std::find(added.begin(), added.end(), user) != added.end()) {
      continue;
    }
    added.emplace_back(user);
  }
  if (added.size() + 1 > command.max_members) {
    return too_many_members("members", command.max_members);
  }
  // A re-created group id continues its old log; new members start after it.
  std::string conversation = group_conversation(command.group);
  std::uint64_t head_seq = 0;
  if (Error head_error = caches_.head(conversation, head_seq)) return head_error;
  std::uint64_t now_ms = command.time_ms;

  store::WriteBatch& batch = context.batch;
  GroupRecord record{std::string(command.name), std::string(command.user), now_ms,
                     static_cast<std::uint32_t>(added.size() + 1), now_ms};
  batch.put(store::Column::groups, keys_.group(command.group), encode(record));
  MembershipRecord membership{std::string(command.group), head_seq + 1, now_ms, now_ms};
  auto put_member = [&](std::string_view user, GroupRole role) {
    batch.put(store::Column::members, keys_.member(command.group, user),
              encode(MemberRecord{role, head_seq + 1, now_ms, now_ms}));
    batch.put(store::Column::convs, keys_.conv(user, conversation), encode(membership));
  };
  put_member(command.user, GroupRole::owner);
  for (const std::string& user : added)
    put_member(user, GroupRole::member);
  caches_.forget_roster(command.group);
  for (const std::string& user : added)
    push_event(context, {user}, GroupEventKind::added, user);
  return {};
}

Error Groups::apply_add(const ApplyContext& context) {
  const Command& command = context.command;
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(caches_, command.group, command.user, roster, self)) {
    return error;
  }
  if (self->role == GroupRole::member) {
    return Error{errc::forbidden, "group: only the owner or an admin may add members"};
  }
  std::vector<std::string> added;
  for (std::string_view user : command.users) {
    if (roster->find(user) || std::find(added.begin(), added.end(), user) != added.end()) {
      continue;
    }
    added.emplace_back(user);
  }
  if (added.empty()) return {};
  if (roster->members.size() + added.size() > command.max_members) {
    return too_many_members("users", command.max_members);
  }
  std::string conversation = group_conversation(command.group);
  std::uint64_t head_seq = 0;
  if (Error error = caches_.head(conversation, head_seq)) return error;
  std::uint64_t now_ms = command.time_ms;

  store::WriteBatch& batch = context.batch;
  GroupRecord record = roster->group;
  record.member_count = static_cast<std::uint32_t>(roster->members.size() + added.size());
  record.hlc = std::max(record.hlc + 1, now_ms);
  batch.put(store::Column::groups, keys_.group(command.group), encode(record));
  MembershipRecord membership{std::string(command.group), head_seq + 1, now_ms, now_ms};
  for (const std::string& user : added) {
    batch.put(store::Column::members, keys_.member(command.group, user),
              encode(MemberRecord{GroupRole::member, head_seq + 1, now_ms, now_ms}));
    batch.put(store::Column::convs, keys_.conv(user, conversation), encode(membership));
  }
  std::vector<std::string> audience = users_of(*roster);
  caches_.forget_roster(command.group);
  audience.insert(audience.end(), added.begin(), added.end());
  for (const std::string& user : added)
    push_event(context, audience, GroupEventKind::added, user);
  return {};
}

Error Groups::apply_remove(const ApplyContext& context) {
  const Command& command = context.command;
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(caches_, command.group, command.user, roster, self)) {
    return error;
  }
  if (self->role == GroupRole::member) {
    return Error{errc::forbidden, "group: only the owner or an admin may remove members"};
  }
  const RosterEntry* target = roster->find(command.other);
  if (!target) return Error{errc::not_found, "user: not a member of the group"};
  if (target->role == GroupRole::owner) {
    return Error{errc::forbidden, "user: the owner cannot be removed"};
  }
  if (self->role == GroupRole::admin && target->role == GroupRole::admin &&
      command.other != command.user) {
    return Error{errc::forbidden, "user: an admin cannot remove another admin"};
  }
  store::WriteBatch& batch = context.batch;
  GroupRecord record = roster->group;
  record.member_count = static_cast<std::uint32_t>(roster->members.size() - 1);
  record.hlc = std::max(record.hlc + 1, command.time_ms);
  batch.put(store::Column::groups, keys_.group(command.group), encode(record));
  batch.erase(store::Column::members, keys_.member(command.group, command.other));
  batch.erase(store::Column::convs, keys_.conv(command.other, group_conversation(command.group)));
  std::vector<std::string> audience = users_of(*roster);  // the removed user included
  caches_.forget_roster(command.group);
  push_event(context, audience, GroupEventKind::removed, command.other);
  return {};
}

Error Groups::apply_set_role(const ApplyContext& context) {
  const Command& command = context.command;
  if (command.role != GroupRole::member && command.role != GroupRole::admin) {
    return Error{errc::invalid_argument, "role: must be Member or Admin"};
  }
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(caches_, command.group, command.user, roster, self)) {
    return error;
  }
  if (self->role != GroupRole::owner) {
    return Error{errc::forbidden, "group: only the owner may change roles"};
  }
  const RosterEntry* target = roster->find(command.other);
  if (!target) return Error{errc::not_found, "user: not a member of the group"};
  if (target->role == GroupRole::owner) {
    return Error{errc::invalid_argument, "user: the owner's role cannot change"};
  }
  if (target->role == command.role) return {};
  std::string key = keys_.member(command.group, command.other);
  std::string value;
  Error error = kv_.get(store::Column::members, key, value);
  if (error) return internal("reading the member failed: " + error.message);
  MemberRecord member;
  if (!decode(value, member)) return internal("a member record is corrupted");
  member.role = command.role;
  member.hlc = std::max(member.hlc + 1, command.time_ms);
  context.batch.put(store::Column::members, key, encode(member));
  std::vector<std::string> audience = users_of(*roster);
  caches_.forget_roster(command.group);
  push_event(context, audience, GroupEventKind::role_changed, command.other);
  return {};
}

Error Groups::apply_leave(const ApplyContext& context) {
  const Command& command = context.command;
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(caches_, command.group, command.user, roster, self)) {
    return error;
  }
  if (self->role == GroupRole::owner) {
    return Error{errc::forbidden, "group: the owner cannot leave; dissolve the group instead"};
  }
  store::WriteBatch& batch = context.batch;
  GroupRecord record = roster->group;
  record.member_count = static_cast<std::uint32_t>(roster->members.size() - 1);
  record.hlc = std::max(record.hlc + 1, command.time_ms);
  batch.put(store::Column::groups, keys_.group(command.group), encode(record));
  batch.erase(store::Column::members, keys_.member(command.group, command.user));
  batch.erase(store::Column::convs, keys_.conv(command.user, group_conversation(command.group)));
  std::vector<std::string> audience = users_of(*roster);  // the leaver's other devices too
  caches_.forget_roster(command.group);
  push_event(context, audience, GroupEventKind::left, command.user);
  return {};
}

Error Groups::apply_dissolve(const ApplyContext& context) {
  const Command& command = context.command;
  const Roster* roster = nullptr;
  const RosterEntry* self = nullptr;
  if (Error error = load_as_member(caches_, command.group, command.user, roster, self)) {
    return error;
  }
  if (self->role != GroupRole::owner) {
    return Error{errc::forbidden, "group: only the owner may dissolve it"};
  }
  // The log stays (bounded by retention); a group re-created with this id starts after it.
  std::string conversation = group_conversation(command.group);
  store::WriteBatch& batch = context.batch;
  batch.erase(store::Column::groups, keys_.group(command.group));
  for (const RosterEntry& member : roster->members) {
    batch.erase(store::Column::members, keys_.member(command.group, member.user));
    batch.erase(store::Column::convs, keys_.conv(member.user, conversation));
  }
  std::vector<std::string> audience = users_of(*roster);
  caches_.forget_roster(command.group);
  push_event(context, audience, GroupEventKind::dissolved, {});
  return {};
}

Result<GroupMembersPage> Groups::page_of(const Roster& roster, std::string_view group,
                                         GroupRole role) {
  GroupMembersPage page;
  page.info = GroupInfo{std::string(group),
                        roster.group.name,
                        roster.group.owner,
                        static_cast<std::uint32_t>(roster.members.size()),
                        role,
                        roster.group.created_ms};
  page.members.reserve(roster.members.size());
  std::vector<std::string> users;
  users.reserve(roster.members.size());
  for (const RosterEntry& entry : roster.members) {
    page.members.push_back(GroupMemberEntry{entry.user, entry.role, false, entry.joined_seq});
    users.push_back(entry.user);
  }
  std::vector<bool> online = reach_.online(users);
  for (std::size_t i = 0; i < page.members.size(); ++i)
    page.members[i].online = online[i];
  return Result<GroupMembersPage>::success(std::move(page));
}

Result<GroupMembersPage> Groups::members(const Caller& caller, std::string_view group) {
  using R = Result<GroupMembersPage>;
  if (Error error = check_group_id(group)) return R::failure(std::move(error));
  if (Error error = require_readable(proposer_, keys_.partition_of(group_conversation(group)),
                                     "this group")) {
    return R::failure(std::move(error));
  }
  Roster roster;
  if (Error error = caches_.read_roster(group, roster)) return R::failure(std::move(error));
  const RosterEntry* self = roster.find(caller.user);
  if (!self) return R::failure(errc::not_member, "group: you are not a member");
  return page_of(roster, group, self->role);
}

Result<GroupMembersPage> Groups::inspect(std::string_view group) {
  using R = Result<GroupMembersPage>;
  if (Error error = check_group_id(group)) return R::failure(std::move(error));
  if (Error error = require_readable(proposer_, keys_.partition_of(group_conversation(group)),
                                     "this group")) {
    return R::failure(std::move(error));
  }
  Roster roster;
  if (Error error = caches_.read_roster(group, roster)) return R::failure(std::move(error));
  return page_of(roster, group, GroupRole::owner);
}

Result<std::vector<GroupInfo>> Groups::my_groups(const Caller& caller) {
  std::vector<PartitionId> here = proposer_.readable_partitions();
  auto infos = my_groups_here(caller.user, here);
  if (!infos.ok()) return infos;
  auto parts =
      reach_.parts_elsewhere(caller.user, UserPart::groups, here, keys_.partitions().count());
  if (!parts.ok()) return Result<std::vector<GroupInfo>>::failure(std::move(parts.error));
  for (UserParts& part : parts.value) {
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

Result<std::vector<GroupInfo>> Groups::my_groups_here(std::string_view user,
                                                      std::span<const PartitionId> partitions) {
  using R = Result<std::vector<GroupInfo>>;
  std::vector<std::string> groups;
  std::size_t cap = static_cast<std::size_t>(options_.max_groups_per_user) * 2 + 16;
  for (PartitionId partition : partitions) {
    if (groups.size() >= cap) break;
    std::string prefix = keys_.convs_prefix(partition, user);
    Error error = kv_.scan(store::Column::convs, keys_.group_convs_prefix(partition, user), {},
                           false, [&](std::string_view key, std::string_view) {
                             // The key's conversation is "g:<group>".
                             groups.emplace_back(keys::suffix(key, prefix).substr(2));
                             return groups.size() < cap;
                           });
    if (error) return R::failure(internal("reading groups failed: " + error.message));
  }
  std::sort(groups.begin(), groups.end());
  std::vector<GroupInfo> infos;
  infos.reserve(groups.size());
  for (const std::string& group : groups) {
    // The group record (with its member count) and the user's own member record: two point
    // lookups, whatever the group's size.
    std::string value;
    Error error = kv_.get(store::Column::groups, keys_.group(group), value);
    if (error.code == errc::not_found) continue;  // dissolved meanwhile
    if (error) return R::failure(internal("reading the group failed: " + error.message));
    GroupRecord record;
    if (!decode(value, record)) return R::failure(internal("the group record is corrupted"));
    error = kv_.get(store::Column::members, keys_.member(group, user), value);
    if (error.code == errc::not_found) continue;  // left meanwhile
    if (error) return R::failure(internal("reading the member failed: " + error.message));
    MemberRecord member;
    if (!decode(value, member)) return R::failure(internal("a member record is corrupted"));
    infos.push_back(GroupInfo{group, record.name, record.owner, record.member_count, member.role,
                              record.created_ms});
  }
  return R::success(std::move(infos));
}

}  // namespace qim::service
