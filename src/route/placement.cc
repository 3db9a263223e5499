#include "route/placement.h"

#include <algorithm>
#include <cassert>

namespace qim::route {

Placement Placement::solo(NodeInfo self, cluster::RingOptions ring_options) {
  std::string name = self.name;
  return Placement(std::move(name), {std::move(self)}, ring_options, 0);
}

namespace {

std::vector<NodeInfo> sorted_by_name(std::vector<NodeInfo> members) {
  std::sort(members.begin(), members.end(),
            [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  return members;
}

std::vector<std::string> names_of(const std::vector<NodeInfo>& members) {
  std::vector<std::string> names;
  names.reserve(members.size());
  for (const NodeInfo& member : members)
    names.push_back(member.name);
  return names;
}

}  // namespace

Placement::Placement(std::string self_name, std::vector<NodeInfo> members,
                     cluster::RingOptions ring_options, std::uint64_t version)
    : self_name_(std::move(self_name)),
      version_(version),
      members_(sorted_by_name(std::move(members))),
      ring_(names_of(members_), ring_options) {
  for (std::size_t i = 0; i < members_.size(); ++i)
    index_.emplace(members_[i].name, i);
  assert(index_.size() == members_.size() && "member names must be distinct");
}

const NodeInfo& Placement::home_of(std::string_view key) const {
  // Ring::members() and members_ are both sorted by name, so the indexes agree.
  return members_[ring_.owner_index(key)];
}

const NodeInfo* Placement::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &members_[it->second];
}

double Placement::share_of(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? 0.0 : ring_.shares()[it->second];
}

bool Placement::same_layout(const Placement& other) const {
  return self_name_ == other.self_name_ && members_ == other.members_ &&
         ring_.options().vnodes_per_member == other.ring_.options().vnodes_per_member;
}

}  // namespace qim::route
