#pragma once
// Key encodings for every column family (schemas/README.md, "Storage records").
//
// Every key of a data column (all but meta) starts with the partition of the record's placement
// key (service/placement_keys.h) as 2 bytes big-endian, computed here from the placement key, so
// no caller can put a record in another partition. So all of partition p's records in a data
// column are exactly the keys with the prefix be16(p): a snapshot copies or deletes a partition
// by that prefix. After the prefix, components are joined by one '\0' byte (ids never contain
// it); seqs and client message ids are 8-byte big-endian so key order is numeric order and a
// conversation's log is one range scan.
//
// Scans over records of one user that live in many partitions (their conversations, friends and
// groups: each lives with the conversation, pair or group) take the partition explicitly and run
// once per partition.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "route/partitions.h"

namespace qim::service {

using route::PartitionId;

namespace keys {

inline constexpr char separator = '\0';
inline constexpr std::size_t partition_prefix_bytes = 2;

void append_be64(std::string& out, std::uint64_t value);
// REQUIRES: bytes.size() == 8.
std::uint64_t read_be64(std::string_view bytes);

// The 2-byte prefix of every key of `partition`. REQUIRES: partition < 65536.
std::string partition_prefix(PartitionId partition);
// The partition a key's prefix names; nullopt when the key is shorter than the prefix.
std::optional<PartitionId> partition_of_key(std::string_view key);

// The part of `key` after `prefix` (the last component of a prefixed key).
// REQUIRES: key starts with prefix.
inline std::string_view suffix(std::string_view key, std::string_view prefix) {
  return key.substr(prefix.size());
}

// The seq of a log key of one conversation; nullopt when the suffix is not 8 bytes.
std::optional<std::uint64_t> log_seq(std::string_view key, std::string_view prefix);

}  // namespace keys

// Builds keys with their partition prefix. Immutable; safe to share between threads.
class Keys {
 public:
  explicit Keys(const route::Partitions& partitions) : partitions_(partitions) {}

  const route::Partitions& partitions() const { return partitions_; }
  // The partition of a placement key (a user id, "d:<a>:<b>" or "g:<group>").
  PartitionId partition_of(std::string_view placement_key) const {
    return partitions_.of(placement_key);
  }

  // accounts: <user>, placed by the user.
  std::string account(std::string_view user) const;
  // cursors: <user>\0<conversation>\0<device>, placed by the user.
  std::string cursor(std::string_view user, std::string_view conversation,
                     std::string_view device) const;
  // Every cursor of `user` (all in the user's partition).
  std::string cursors_prefix(std::string_view user) const;
  // friends: <user>\0<other>, placed by the pair's direct conversation.
  std::string friend_of(std::string_view user, std::string_view other) const;
  // The friend records of `user` held in `partition`.
  std::string friends_prefix(PartitionId partition, std::string_view user) const;
  // convs: <user>\0<conversation>, placed by the conversation.
  std::string conv(std::string_view user, std::string_view conversation) const;
  // The conversation memberships of `user` held in `partition`; the group ones alone.
  std::string convs_prefix(PartitionId partition, std::string_view user) const;
  std::string group_convs_prefix(PartitionId partition, std::string_view user) const;
  // groups: <group>; members: <group>\0<user>; placed by "g:<group>".
  std::string group(std::string_view group) const;
  std::string member(std::string_view group, std::string_view user) const;
  std::string members_prefix(std::string_view group) const;
  // log: <conversation>\0<seq:be64>; dedup: <conversation>\0<sender>\0<client_msg_id:be64>;
  // placed by the conversation.
  std::string log(std::string_view conversation, std::uint64_t seq) const;
  std::string log_prefix(std::string_view conversation) const;
  std::string dedup(std::string_view conversation, std::string_view sender,
                    std::uint64_t client_msg_id) const;
  // The dedup records of `partition`, and the key of its prune cursor (the prefix alone, which
  // sorts before every dedup record of the partition).
  static std::string dedup_partition(PartitionId partition) {
    return keys::partition_prefix(partition);
  }

 private:
  // The prefix of `placement_key`'s partition followed by `first`, with room for `extra` more.
  std::string start(std::string_view placement_key, std::string_view first,
                    std::size_t extra) const;

  const route::Partitions& partitions_;
};

}  // namespace qim::service
