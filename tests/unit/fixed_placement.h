#pragma once
// A placement source that always answers the placement it was given, and the NodeInfo of a
// test node: for unit tests of code that routes by placement without a membership.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "route/placement.h"
#include "service/placement_source.h"

namespace qim::testing {

inline route::NodeInfo test_node(const std::string& name, std::uint16_t port) {
  return route::NodeInfo{name, "127.0.0.1", port, "127.0.0.1:" + std::to_string(port + 3)};
}

// A placement whose partitions are led by `members` in turn (partition p by member p mod n),
// with 16 partitions keyed with the default hash key.
inline route::Placement spread_placement(const std::string& self,
                                         std::vector<route::NodeInfo> members,
                                         std::uint64_t version = 1,
                                         route::Partitions partitions = {16, cluster::HashKey{}}) {
  std::vector<std::int32_t> leaders(partitions.count());
  for (std::size_t p = 0; p < leaders.size(); ++p)
    leaders[p] = static_cast<std::int32_t>(p % members.size());
  return route::Placement(self, std::move(members), partitions, std::move(leaders), version);
}

class FixedPlacement final : public service::PlacementSource {
 public:
  explicit FixedPlacement(std::shared_ptr<const route::Placement> placement)
      : placement_(std::move(placement)) {}
  std::shared_ptr<const route::Placement> placement() const override { return placement_; }

 private:
  std::shared_ptr<const route::Placement> placement_;
};

}  // namespace qim::testing
