#include "service/partition_caches.h"

#include <algorithm>

#include "qim/ids.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

}  // namespace

const RosterEntry* Roster::find(std::string_view user) const {
  auto it =
      std::lower_bound(members.begin(), members.end(), user,
                       [](const RosterEntry& entry, std::string_view u) { return entry.user < u; });
  return it != members.end() && it->user == user ? &*it : nullptr;
}

PartitionCaches::PartitionCaches(store::Kv& kv, const Keys& keys)
    : kv_(kv),
      keys_(keys),
      heads_per_partition_(
          std::max<std::size_t>(256, max_cached_heads / keys.partitions().count())),
      roster_entries_per_partition_(
          std::max<std::size_t>(4096, max_cached_roster_entries / keys.partitions().count())) {
  partitions_.reserve(keys.partitions().count());
  for (std::uint32_t i = 0; i < keys.partitions().count(); ++i)
    partitions_.push_back(std::make_unique<Partition>());
}

Error PartitionCaches::load_head(std::string_view conversation, std::uint64_t& head_seq) {
  // The head is the last key of the conversation's log range: one reverse seek. When history
  // retention deleted every entry, that key is the log floor (the prefix alone) holding it.
  std::string prefix = keys_.log_prefix(conversation);
  std::uint64_t found = 0;
  bool corrupt = false;
  Error error = kv_.scan(
      store::Column::log, prefix, {}, true, [&](std::string_view log_key, std::string_view value) {
        if (auto seq = keys::log_seq(log_key, prefix)) {
          found = *seq;
        } else if (log_key.size() != prefix.size() || !decode_log_floor(value, found)) {
          corrupt = true;
        }
        return false;
      });
  if (error) return internal("reading the conversation head failed: " + error.message);
  if (corrupt) return internal("a log key of " + std::string(conversation) + " is corrupted");
  head_seq = found;
  return {};
}

Error PartitionCaches::load_roster(std::string_view group, Roster& loaded) {
  std::string value;
  Error error = kv_.get(store::Column::groups, keys_.group(group), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "group: no such group"};
  if (error) return internal("reading the group failed: " + error.message);
  if (!decode(value, loaded.group)) return internal("the group record is corrupted");
  std::string prefix = keys_.members_prefix(group);
  bool corrupt = false;
  loaded.members.clear();
  error = kv_.scan(
      store::Column::members, prefix, {}, false, [&](std::string_view key, std::string_view bytes) {
        MemberRecord member;
        if (!decode(bytes, member)) {
          corrupt = true;
          return false;
        }
        loaded.members.push_back(
            RosterEntry{std::string(keys::suffix(key, prefix)), member.role, member.joined_seq});
        return true;
      });
  if (error) return internal("reading the group members failed: " + error.message);
  if (corrupt) return internal("a member record of " + std::string(group) + " is corrupted");
  // Keys are ordered, so members already are sorted by user id.
  return {};
}

Error PartitionCaches::head(std::string_view conversation, std::uint64_t& head_seq) {
  Partition& partition = partition_of(conversation);
  std::string key(conversation);
  {
    std::lock_guard lock(partition.mutex);
    if (auto it = partition.heads.find(key); it != partition.heads.end()) {
      head_seq = it->second.seq;
      return {};
    }
  }
  if (Error error = load_head(conversation, head_seq)) return error;
  std::lock_guard lock(partition.mutex);
  if (partition.heads.size() >= heads_per_partition_) evict_head(partition, nullptr);
  partition.heads.emplace(std::move(key), Partition::Head{head_seq, false});
  return {};
}

void PartitionCaches::evict_head(Partition& partition, const Partition::Heads::value_type* keep) {
  // Unwritten heads are at most one cycle's sends, far fewer than the cache holds.
  for (auto it = partition.heads.begin(); it != partition.heads.end(); ++it) {
    if (it->second.unwritten || &*it == keep) continue;
    partition.heads.erase(it);
    return;
  }
}

bool PartitionCaches::has_head(std::string_view conversation) {
  Partition& partition = partition_of(conversation);
  std::lock_guard lock(partition.mutex);
  return partition.heads.contains(std::string(conversation));
}

void PartitionCaches::set_head(std::string_view conversation, std::uint64_t head_seq) {
  Partition& partition = partition_of(conversation);
  std::lock_guard lock(partition.mutex);
  auto [it, inserted] = partition.heads.try_emplace(std::string(conversation));
  it->second.seq = head_seq;
  if (!it->second.unwritten) {
    it->second.unwritten = true;
    partition.unwritten.push_back(&*it);
  }
  if (inserted && partition.heads.size() > heads_per_partition_) evict_head(partition, &*it);
}

void PartitionCaches::heads_written(PartitionId partition_id) {
  if (partition_id >= partitions_.size()) return;
  Partition& partition = *partitions_[partition_id];
  std::lock_guard lock(partition.mutex);
  for (auto* head : partition.unwritten)
    head->second.unwritten = false;
  partition.unwritten.clear();
}

Error PartitionCaches::roster(std::string_view group, std::shared_ptr<const Roster>& roster) {
  Partition& partition = partition_of(group_conversation(group));
  std::string group_id(group);
  {
    std::lock_guard lock(partition.mutex);
    if (auto it = partition.rosters.find(group_id); it != partition.rosters.end()) {
      roster = it->second;
      return {};
    }
  }
  auto loaded = std::make_shared<Roster>();
  if (Error error = load_roster(group, *loaded)) return error;
  std::lock_guard lock(partition.mutex);
  std::size_t entries = loaded->members.size();
  while (!partition.rosters.empty() &&
         partition.roster_entries + entries > roster_entries_per_partition_) {
    auto victim = partition.rosters.begin();
    partition.roster_entries -= victim->second->members.size();
    partition.rosters.erase(victim);
  }
  partition.roster_entries += entries;
  roster = std::move(loaded);
  partition.rosters.emplace(std::move(group_id), roster);
  return {};
}

Error PartitionCaches::roster(std::string_view group, const Roster*& roster) {
  std::shared_ptr<const Roster> shared;
  if (Error error = this->roster(group, shared)) return error;
  roster = shared.get();  // the cache holds it too
  return {};
}

void PartitionCaches::erase_roster(Partition& partition, std::string_view group) {
  auto it = partition.rosters.find(std::string(group));
  if (it == partition.rosters.end()) return;
  partition.roster_entries -= it->second->members.size();
  partition.rosters.erase(it);
}

void PartitionCaches::forget_roster(std::string_view group) {
  Partition& partition = partition_of(group_conversation(group));
  std::lock_guard lock(partition.mutex);
  erase_roster(partition, group);
}

Error PartitionCaches::read_head(std::string_view conversation, std::uint64_t& head_seq) {
  Partition& partition = partition_of(conversation);
  {
    std::lock_guard lock(partition.mutex);
    if (auto it = partition.heads.find(std::string(conversation)); it != partition.heads.end()) {
      head_seq = it->second.seq;
      return {};
    }
  }
  return load_head(conversation, head_seq);
}

Error PartitionCaches::read_member(std::string_view group, std::string_view user,
                                   RosterEntry& entry) {
  Partition& partition = partition_of(group_conversation(group));
  {
    std::lock_guard lock(partition.mutex);
    if (auto it = partition.rosters.find(std::string(group)); it != partition.rosters.end()) {
      const RosterEntry* found = it->second->find(user);
      if (!found) return Error{errc::not_member, "group: you are not a member"};
      entry = *found;
      return {};
    }
  }
  // Two point lookups instead of loading the whole roster.
  std::string value;
  Error error = kv_.get(store::Column::groups, keys_.group(group), value);
  if (error.code == errc::not_found) return Error{errc::not_found, "group: no such group"};
  if (error) return internal("reading the group failed: " + error.message);
  error = kv_.get(store::Column::members, keys_.member(group, user), value);
  if (error.code == errc::not_found) return Error{errc::not_member, "group: you are not a member"};
  if (error) return internal("reading the member failed: " + error.message);
  MemberRecord member;
  if (!decode(value, member)) return internal("a member record is corrupted");
  entry = RosterEntry{std::string(user), member.role, member.joined_seq};
  return {};
}

Error PartitionCaches::read_roster(std::string_view group, Roster& roster) {
  Partition& partition = partition_of(group_conversation(group));
  {
    std::lock_guard lock(partition.mutex);
    if (auto it = partition.rosters.find(std::string(group)); it != partition.rosters.end()) {
      roster = *it->second;
      return {};
    }
  }
  return load_roster(group, roster);
}

void PartitionCaches::forget_partition(PartitionId partition_id) {
  if (partition_id >= partitions_.size()) return;
  Partition& partition = *partitions_[partition_id];
  std::lock_guard lock(partition.mutex);
  partition.heads.clear();
  partition.unwritten.clear();
  partition.rosters.clear();
  partition.roster_entries = 0;
}

void PartitionCaches::forget(std::string_view conversation) {
  Partition& partition = partition_of(conversation);
  std::lock_guard lock(partition.mutex);
  if (auto it = partition.heads.find(std::string(conversation)); it != partition.heads.end()) {
    std::erase(partition.unwritten, &*it);
    partition.heads.erase(it);
  }
  auto ref = parse_conversation(conversation);
  if (ref && ref->kind == ConversationRef::Kind::group) erase_roster(partition, ref->first);
}

}  // namespace qim::service
