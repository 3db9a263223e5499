#include "route/partitions.h"

#include <cassert>

namespace qim::route {

Partitions::Partitions(std::uint32_t count, cluster::HashKey hash_key)
    : count_(count), hash_key_(hash_key) {
  assert(count >= min_count && count <= max_count);
}

PartitionId Partitions::of(std::string_view placement_key) const {
  std::uint64_t hash = cluster::siphash24(hash_key_, placement_key);
  return static_cast<PartitionId>(hash % count_);
}

}  // namespace qim::route
