#include "service/user_purge.h"

#include <algorithm>
#include <string>
#include <vector>

#include "qim/ids.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

// The last component of a key under `prefix` (a friend's id, a conversation id).
std::string_view last_component(std::string_view key, std::string_view prefix) {
  return keys::suffix(key, prefix);
}

// Who leads `roster` once `leaving` (its owner) is gone: the earliest-joined admin, else the
// earliest-joined member (ties by id); nullptr when nobody else is left.
const RosterEntry* successor(const Roster& roster, std::string_view leaving) {
  const RosterEntry* best = nullptr;
  auto earlier = [](const RosterEntry& a, const RosterEntry& b) {
    if (a.role != b.role) return a.role == GroupRole::admin;
    if (a.joined_seq != b.joined_seq) return a.joined_seq < b.joined_seq;
    return a.user < b.user;
  };
  for (const RosterEntry& entry : roster.members) {
    if (entry.user == leaving) continue;
    if (best == nullptr || earlier(entry, *best)) best = &entry;
  }
  return best;
}

}  // namespace

bool UserPurge::has_records(PartitionId partition, std::string_view user) const {
  if (keys_.partition_of(user) == partition) return true;
  bool found = false;
  auto any = [&found](std::string_view, std::string_view) {
    found = true;
    return false;
  };
  if (kv_.scan(store::Column::friends, keys_.friends_prefix(partition, user), {}, false, any)) {
    return true;
  }
  if (found) return true;
  if (kv_.scan(store::Column::convs, keys_.convs_prefix(partition, user), {}, false, any)) {
    return true;
  }
  return found;
}

Error UserPurge::apply(const ApplyContext& context) {
  if (Error error = purge_friends(context)) return error;
  if (Error error = purge_conversations(context)) return error;
  if (keys_.partition_of(context.command.user) == context.partition) return purge_account(context);
  return {};
}

Error UserPurge::purge_friends(const ApplyContext& context) {
  std::string_view user = context.command.user;
  std::string prefix = keys_.friends_prefix(context.partition, user);
  std::vector<std::string> others;
  Error error = kv_.scan(store::Column::friends, prefix, {}, false,
                         [&](std::string_view key, std::string_view) {
                           others.emplace_back(last_component(key, prefix));
                           return true;
                         });
  if (error) return internal("reading the friend records failed: " + error.message);
  proto::FrameBuilder builder(128);
  for (const std::string& other : others) {
    context.batch.erase(store::Column::friends, keys_.friend_of(user, other));
    context.batch.erase(store::Column::friends, keys_.friend_of(other, user));
    if (context.leader) {
      std::string_view to[] = {other};
      events_.push(context.partition, std::span<const std::string_view>(to),
                   encode_friend_event(builder, user, FriendEventKind::removed), {}, 0);
    }
  }
  return {};
}

Error UserPurge::purge_conversations(const ApplyContext& context) {
  std::string_view user = context.command.user;
  std::string prefix = keys_.convs_prefix(context.partition, user);
  std::vector<std::pair<std::string, std::string>> conversations;  // with the peer
  bool corrupt = false;
  Error error = kv_.scan(
      store::Column::convs, prefix, {}, false, [&](std::string_view key, std::string_view bytes) {
        MembershipRecord membership;
        if (!decode(bytes, membership)) {
          corrupt = true;
          return false;
        }
        conversations.emplace_back(last_component(key, prefix), std::move(membership.peer));
        return true;
      });
  if (error) return internal("reading the conversation records failed: " + error.message);
  if (corrupt) return internal("a conversation record is corrupted");
  for (const auto& [conversation, peer] : conversations) {
    context.batch.erase(store::Column::convs, keys_.conv(user, conversation));
    if (conversation.starts_with("g:")) {
      if (Error failed = leave_group(context, std::string_view(conversation).substr(2))) {
        return failed;
      }
      continue;
    }
    // The other user's membership keeps the conversation (and its seqs) alive; without it,
    // nobody is left to read it.
    std::string value;
    Error lookup = peer == user
                       ? Error{errc::not_found, {}}
                       : kv_.get(store::Column::convs, keys_.conv(peer, conversation), value);
    if (lookup && lookup.code != errc::not_found) {
      return internal("reading a membership failed: " + lookup.message);
    }
    if (lookup.code == errc::not_found) {
      conversations_.drop_direct(context.partition, conversation, context.batch);
    }
  }
  return {};
}

Error UserPurge::leave_group(const ApplyContext& context, std::string_view group) {
  const Command& command = context.command;
  std::shared_ptr<const Roster> roster;
  Error error = caches_.roster(group, roster);
  if (error.code == errc::not_found) return {};  // a stale membership: nothing else to do
  if (error) return error;
  const RosterEntry* self = roster->find(command.user);
  if (self == nullptr) return {};
  store::WriteBatch& batch = context.batch;
  std::string conversation = group_conversation(group);
  std::vector<std::string> audience;
  for (const RosterEntry& entry : roster->members) {
    if (entry.user != command.user) audience.push_back(entry.user);
  }
  proto::FrameBuilder builder(192);
  auto push = [&](GroupEventKind kind, std::string_view subject) {
    if (!context.leader || audience.empty()) return;
    events_.push(
        context.partition, audience,
        [](const std::string& member) { return std::string_view(member); },
        encode_group_event(builder, group, kind, subject, command.user), {}, 0);
  };
  batch.erase(store::Column::members, keys_.member(group, command.user));
  caches_.forget_roster(group);
  GroupRecord record = roster->group;
  record.hlc = std::max(record.hlc + 1, command.time_ms);
  record.member_count = static_cast<std::uint32_t>(audience.size());
  if (self->role == GroupRole::owner) {
    const RosterEntry* next = successor(*roster, command.user);
    if (next == nullptr) {
      // Nobody left: the group goes (its log stays, as for a dissolve).
      batch.erase(store::Column::groups, keys_.group(group));
      return {};
    }
    record.owner = next->user;
    std::string value;
    if (Error read = kv_.get(store::Column::members, keys_.member(group, next->user), value)) {
      return internal("reading a member record failed: " + read.message);
    }
    MemberRecord member;
    if (!decode(value, member)) return internal("a member record is corrupted");
    member.role = GroupRole::owner;
    member.hlc = std::max(member.hlc + 1, command.time_ms);
    batch.put(store::Column::members, keys_.member(group, next->user), encode(member));
    batch.put(store::Column::groups, keys_.group(group), encode(record));
    push(GroupEventKind::left, command.user);
    push(GroupEventKind::role_changed, next->user);
    return {};
  }
  batch.put(store::Column::groups, keys_.group(group), encode(record));
  push(GroupEventKind::left, command.user);
  return {};
}

Error UserPurge::purge_account(const ApplyContext& context) {
  std::string_view user = context.command.user;
  std::string prefix = keys_.cursors_prefix(user);
  std::vector<std::string> cursors;
  Error error = kv_.scan(store::Column::cursors, prefix, {}, false,
                         [&](std::string_view key, std::string_view) {
                           cursors.emplace_back(key);
                           return true;
                         });
  if (error) return internal("reading the cursors failed: " + error.message);
  for (const std::string& key : cursors)
    context.batch.erase(store::Column::cursors, key);
  context.batch.erase(store::Column::accounts, keys_.account(user));
  return {};
}

}  // namespace qim::service
