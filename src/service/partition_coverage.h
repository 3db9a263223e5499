#pragma once
// A user's conversation, friend and group lists are gathered from every partition: each node
// reads the partitions it leads now, and the asker puts the parts together. While a partition
// changes leaders, no node reads it (or the one that did has not answered), and the gathered
// list would silently lack that partition's records: a friend or a conversation that looks
// gone. PartitionCoverage counts which partitions the parts came from, so such a list is
// refused as Unavailable (the client retries) instead of being shown short.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qim/errc.h"
#include "route/partitions.h"

namespace qim::service {

class PartitionCoverage {
 public:
  explicit PartitionCoverage(std::uint32_t partition_count);

  // The parts of one node were read from `partitions` (ids out of range are ignored).
  void add(std::span<const route::PartitionId> partitions);

  std::uint32_t missing() const { return missing_; }
  bool complete() const { return missing_ == 0; }
  // ok when every partition was read; otherwise Unavailable naming what `list` is of `user`.
  Error check(std::string_view list, std::string_view user) const;

 private:
  std::vector<bool> covered_;
  std::uint32_t missing_;
};

}  // namespace qim::service
