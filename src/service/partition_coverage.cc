#include "service/partition_coverage.h"

#include <fmt/core.h>

namespace qim::service {

PartitionCoverage::PartitionCoverage(std::uint32_t partition_count)
    : covered_(partition_count, false), missing_(partition_count) {}

void PartitionCoverage::add(std::span<const route::PartitionId> partitions) {
  for (route::PartitionId partition : partitions) {
    if (partition >= covered_.size() || covered_[partition]) continue;
    covered_[partition] = true;
    --missing_;
  }
}

Error PartitionCoverage::check(std::string_view list, std::string_view user) const {
  if (missing_ == 0) return {};
  return Error{errc::unavailable,
               fmt::format("{} of {} partition(s) holding {}'s {} are changing leaders or out of "
                           "reach; retry in a moment",
                           missing_, covered_.size(), user, list)};
}

}  // namespace qim::service
