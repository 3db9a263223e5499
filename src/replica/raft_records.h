#pragma once
// How a partition's Raft state is laid out in the store (schemas/store.fbs, "Replication
// state"): log entries in raft_log under <partition:be16><index:be64>, and in raft_state under
// <partition:be16><tag>: 'h' the hard state, 's' the applied point (written with every applied
// entry), 't' the log's compaction point, 'i' a snapshot being installed, 'x' the hard state
// of a replica this node dropped (so that, should the group add it back, it never votes twice
// in one term). Every key of a partition, in every column, starts with the same two bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "replication/raft/types.h"
#include "route/partitions.h"

namespace qim::replica {

namespace raft = replication::raft;
using route::PartitionId;

// A point of a partition's log: an applied point, a snapshot's, or the compaction point.
struct LogPoint {
  raft::Index index = 0;
  raft::Term term = 0;
  raft::Configuration config;  // empty for the compaction point

  friend bool operator==(const LogPoint&, const LogPoint&) = default;
};

namespace raft_keys {

// be16(partition): the first two bytes of every key of the partition, in every column.
std::string partition_prefix(PartitionId partition);
// The first key after every key of the partition (the end of an erase_range).
std::string partition_end(PartitionId partition);
std::string entry(PartitionId partition, raft::Index index);
std::optional<raft::Index> entry_index(std::string_view key);
std::string hard_state(PartitionId partition);
std::string applied(PartitionId partition);
std::string compacted(PartitionId partition);
std::string installing(PartitionId partition);
std::string tombstone(PartitionId partition);

}  // namespace raft_keys

std::string encode_entry(const raft::Entry& entry);
// The entry at `index` from its stored value; false when it does not verify.
bool decode_entry(std::string_view bytes, raft::Index index, raft::Entry& entry);
std::string encode_hard_state(const raft::HardState& state);
bool decode_hard_state(std::string_view bytes, raft::HardState& state);
std::string encode_point(const LogPoint& point);
bool decode_point(std::string_view bytes, LogPoint& point);

}  // namespace qim::replica
