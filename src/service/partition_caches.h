#pragma once
// What apply() keeps in memory of each partition's applied state: conversation heads (the last
// seq of a log) and group rosters. Exact at apply: only the partition's apply inserts, updates
// or evicts entries. A command's writes may still be in the shell's unwritten batch when the
// next command applies (sends share one write per cycle): a head set since the last write is
// never evicted until heads_written(), so apply never reloads a head older than what it set.
// Readers (pull, members, ...) only look entries up; on a miss they read the store and leave the
// cache alone (an entry a reader loaded between a command's apply and its write could be stale).
//
// Thread-safety: the apply side of partition p is called by p's apply thread only (one at a
// time, REQUIRES below); the read side from any thread. One mutex per partition guards its
// maps. Bounded: a partition holds at most its share of max_cached_heads heads and of
// max_cached_roster_entries roster entries; an evicted entry is reloaded from the store.
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "service/keys.h"
#include "service/records.h"
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

class PartitionCaches {
 public:
  static constexpr std::size_t max_cached_heads = 1 << 18;
  static constexpr std::size_t max_cached_roster_entries = 1 << 21;

  PartitionCaches(store::Kv& kv, const Keys& keys);

  // --- Apply side. REQUIRES: on the apply thread of the conversation's partition. ---
  // The last seq of `conversation` (0 when empty).
  Error head(std::string_view conversation, std::uint64_t& head_seq);
  // Whether the head of `conversation` is cached (then head() reads no store).
  bool has_head(std::string_view conversation);
  // Sets the head; it stays cached at least until heads_written() for its partition.
  void set_head(std::string_view conversation, std::uint64_t head_seq);
  // The heads set in `partition` so far are in the store: they may be evicted again.
  void heads_written(PartitionId partition);
  // The group's roster; not_found when there is no such group. A roster never changes once
  // cached (a change forgets it); the shared pointer keeps it alive past that, the raw one is
  // valid until the roster is forgotten (by this apply thread).
  Error roster(std::string_view group, std::shared_ptr<const Roster>& roster);
  Error roster(std::string_view group, const Roster*& roster);
  // After the group's records changed.
  void forget_roster(std::string_view group);

  // --- Any thread. ---
  // The head of `conversation`, from the cache or the store.
  Error read_head(std::string_view conversation, std::uint64_t& head_seq);
  // `user`'s entry in `group`'s roster: not_found (no such group) or not_member.
  Error read_member(std::string_view group, std::string_view user, RosterEntry& entry);
  // A copy of the group's roster; not_found when there is no such group.
  Error read_roster(std::string_view group, Roster& roster);
  // Forgets everything cached of `partition` (REQUIRES: no apply of it runs), or of one
  // conversation (a handoff between nodes wrote or deleted its records).
  void forget_partition(PartitionId partition);
  void forget(std::string_view conversation);

 private:
  struct Partition {
    std::mutex mutex;
    struct Head {
      std::uint64_t seq = 0;
      bool unwritten = false;  // set since the last heads_written(): not to be evicted
    };
    using Heads = std::unordered_map<std::string, Head>;
    Heads heads;                                // GUARDED_BY(mutex)
    std::vector<Heads::value_type*> unwritten;  // GUARDED_BY(mutex); nodes are stable
    // By group id; GUARDED_BY(mutex).
    std::unordered_map<std::string, std::shared_ptr<const Roster>> rosters;
    std::size_t roster_entries = 0;  // GUARDED_BY(mutex)
  };

  Partition& partition_of(std::string_view conversation) {
    return *partitions_[keys_.partition_of(conversation)];
  }
  Error load_head(std::string_view conversation, std::uint64_t& head_seq);
  // Makes room for one more head, evicting one that is not unwritten (nor `keep`).
  // REQUIRES: partition.mutex held.
  void evict_head(Partition& partition, const Partition::Heads::value_type* keep);
  Error load_roster(std::string_view group, Roster& roster);
  void erase_roster(Partition& partition, std::string_view group);

  store::Kv& kv_;
  const Keys& keys_;
  const std::size_t heads_per_partition_;
  const std::size_t roster_entries_per_partition_;
  std::vector<std::unique_ptr<Partition>> partitions_;
};

}  // namespace qim::service
