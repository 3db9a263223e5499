#include "node/placement_tracker.h"

#include "net/endpoint.h"

namespace qim::node {

PlacementTracker::PlacementTracker(route::NodeInfo self, cluster::RingOptions ring_options,
                                   core::Logger& logger)
    : self_(self),
      ring_options_(ring_options),
      logger_(logger),
      current_(std::make_shared<const route::Placement>(
          route::Placement::solo(std::move(self), ring_options))) {}

std::shared_ptr<const route::Placement> PlacementTracker::placement() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::optional<std::string> PlacementTracker::peer_address(std::string_view node_name) const {
  std::lock_guard lock(mutex_);
  auto it = peer_addresses_.find(std::string(node_name));
  if (it == peer_addresses_.end()) return std::nullopt;
  return it->second;
}

std::vector<route::NodeInfo> live_nodes(const std::vector<MemberSnapshot>& members,
                                        core::Logger& logger) {
  std::vector<route::NodeInfo> nodes;
  nodes.reserve(members.size());
  for (const MemberSnapshot& member : members) {
    if (!cluster::swim::is_live(member.state)) continue;
    auto client = net::parse_host_port(member.client_address);
    if (!client || client->port == 0) {
      logger.warn("route",
                  "member {} advertises an unusable client address '{}'; not routing to it",
                  member.name, member.client_address);
      continue;
    }
    nodes.push_back({member.name, client->host, client->port, member.peer_address});
  }
  return nodes;
}

void PlacementTracker::drain() {
  draining_ = true;
  update(last_members_);
}

bool PlacementTracker::update(const std::vector<MemberSnapshot>& members) {
  last_members_ = members;
  {
    std::unordered_map<std::string, std::string> addresses;
    for (const MemberSnapshot& member : members) {
      bool reachable =
          cluster::swim::is_live(member.state) || member.state == cluster::swim::MemberState::left;
      if (reachable && !member.peer_address.empty()) {
        addresses.emplace(member.name, member.peer_address);
      }
    }
    std::lock_guard lock(mutex_);
    peer_addresses_ = std::move(addresses);
  }
  std::vector<route::NodeInfo> nodes = live_nodes(members, logger_);
  std::erase_if(nodes, [this](const route::NodeInfo& node) { return node.name == self_.name; });
  // A member routes as part of its own placement (also before the others know it) until it
  // drains; a draining node with no one left to hand over to keeps serving to the end.
  if (!draining_ || nodes.empty()) nodes.push_back(self_);
  auto next = std::make_shared<const route::Placement>(self_.name, std::move(nodes), ring_options_,
                                                       next_version_);
  {
    std::lock_guard lock(mutex_);
    if (current_->same_layout(*next)) return false;
    current_ = next;
  }
  ++next_version_;
  logger_.info("route", "placement {}: {} node(s), this node owns {:.1f}% of keys", next->version(),
               next->members().size(), 100.0 * next->share_of(self_.name));
  if (on_change_) on_change_();
  return true;
}

}  // namespace qim::node
