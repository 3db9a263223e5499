#include "route/placement.h"

#include <algorithm>
#include <cassert>

namespace qim::route {

Placement Placement::empty(NodeInfo self, Partitions partitions) {
  std::string name = self.name;
  std::vector<std::int32_t> leaders(partitions.count(), -1);
  return Placement(std::move(name), {std::move(self)}, partitions, std::move(leaders), 0);
}

Placement::Placement(std::string self_name, std::vector<NodeInfo> members, Partitions partitions,
                     std::vector<std::int32_t> leaders, std::uint64_t version)
    : self_name_(std::move(self_name)),
      version_(version),
      members_(std::move(members)),
      partitions_(partitions),
      leaders_(std::move(leaders)) {
  assert(leaders_.size() == partitions_.count());
  // Sorting moves members: remap the leader indexes with it.
  std::vector<std::size_t> order(members_.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return members_[a].name < members_[b].name; });
  std::vector<NodeInfo> sorted;
  std::vector<std::int32_t> position(members_.size());
  sorted.reserve(members_.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    position[order[i]] = static_cast<std::int32_t>(i);
    sorted.push_back(std::move(members_[order[i]]));
  }
  members_ = std::move(sorted);
  for (std::int32_t& leader : leaders_) {
    if (leader >= 0 && static_cast<std::size_t>(leader) < position.size()) {
      leader = position[static_cast<std::size_t>(leader)];
    } else {
      leader = -1;
    }
  }
  for (std::size_t i = 0; i < members_.size(); ++i)
    index_.emplace(members_[i].name, i);
  assert(index_.size() == members_.size() && "member names must be distinct");
}

const NodeInfo& Placement::leader_or_unknown(PartitionId partition) const {
  std::int32_t leader = leaders_[partition];
  return leader < 0 ? unknown_ : members_[static_cast<std::size_t>(leader)];
}

const NodeInfo* Placement::leader_of(PartitionId partition) const {
  std::int32_t leader = leaders_[partition];
  return leader < 0 ? nullptr : &members_[static_cast<std::size_t>(leader)];
}

const NodeInfo* Placement::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &members_[it->second];
}

std::size_t Placement::leaderships(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return 0;
  auto wanted = static_cast<std::int32_t>(it->second);
  return static_cast<std::size_t>(std::count(leaders_.begin(), leaders_.end(), wanted));
}

std::size_t Placement::led_partitions() const {
  return static_cast<std::size_t>(std::count_if(leaders_.begin(), leaders_.end(),
                                                [](std::int32_t leader) { return leader >= 0; }));
}

}  // namespace qim::route
