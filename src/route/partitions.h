#pragma once
// Partitions (DESIGN §6): the key space is cut into a fixed number of partitions, chosen when
// the cluster is created. A placement key (service/placement_keys.h) belongs to partition
// siphash(key) mod count, keyed with the cluster's ring seed, so every member computes the same
// partition and an outsider cannot aim keys at one partition. Each partition is one Raft group
// whose leader is the home of its keys.
//
// Immutable; safe to share between threads.
#include <cstdint>
#include <string_view>

#include "cluster/ring/hash.h"

namespace qim::route {

using PartitionId = std::uint32_t;

class Partitions {
 public:
  // Bounds of --partitions: at least one; at most what a 2-byte key prefix can name.
  static constexpr std::uint32_t min_count = 1;
  static constexpr std::uint32_t max_count = 4096;
  static constexpr std::uint32_t default_count = 64;

  // REQUIRES: min_count <= count <= max_count.
  Partitions(std::uint32_t count, cluster::HashKey hash_key);

  std::uint32_t count() const { return count_; }
  const cluster::HashKey& hash_key() const { return hash_key_; }
  // The partition of a placement key (a user id, or a conversation id "d:a:b" / "g:id").
  PartitionId of(std::string_view placement_key) const;

 private:
  std::uint32_t count_;
  cluster::HashKey hash_key_;
};

}  // namespace qim::route
