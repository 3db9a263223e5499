#include "node/leader_directory.h"

#include "net/endpoint.h"

namespace qim::node {

LeaderDirectory::LeaderDirectory(route::NodeInfo self, route::Partitions partitions,
                                 core::Logger& logger)
    : self_(std::move(self)),
      name_(self_.name),
      partitions_(partitions),
      logger_(logger),
      nodes_{self_},
      leaders_(partitions.count()),
      current_(
          std::make_shared<const route::Placement>(route::Placement::empty(self_, partitions_))) {}

std::shared_ptr<const route::Placement> LeaderDirectory::placement() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::optional<std::string> LeaderDirectory::peer_address(std::string_view node_name) const {
  std::lock_guard lock(mutex_);
  auto it = peer_addresses_.find(std::string(node_name));
  if (it == peer_addresses_.end()) return std::nullopt;
  return it->second;
}

std::vector<route::NodeInfo> routable_nodes(const std::vector<MemberSnapshot>& members,
                                            core::Logger& logger) {
  std::vector<route::NodeInfo> nodes;
  nodes.reserve(members.size());
  for (const MemberSnapshot& member : members) {
    bool live = cluster::swim::is_live(member.state);
    if (!live && member.state != cluster::swim::MemberState::dead) continue;
    auto client = net::parse_host_port(member.client_address);
    if (!client || client->port == 0) {
      logger.warn("route",
                  "member {} advertises an unusable client address '{}'; not routing to it",
                  member.name, member.client_address);
      continue;
    }
    nodes.push_back({member.name, client->host, client->port, member.peer_address, live,
                     member.replica_id, member.ws_port});
  }
  return nodes;
}

void LeaderDirectory::set_self(route::NodeInfo self) {
  std::lock_guard lock(mutex_);
  self_ = std::move(self);
  for (route::NodeInfo& node : nodes_) {
    if (node.name == self_.name) node = self_;
  }
  publish_locked();
}

void LeaderDirectory::update_members(const std::vector<MemberSnapshot>& members) {
  std::unordered_map<std::string, std::string> addresses;
  for (const MemberSnapshot& member : members) {
    bool reachable =
        cluster::swim::is_live(member.state) || member.state == cluster::swim::MemberState::left;
    if (reachable && !member.peer_address.empty())
      addresses.emplace(member.name, member.peer_address);
  }
  std::vector<route::NodeInfo> nodes = routable_nodes(members, logger_);
  {
    std::lock_guard lock(mutex_);
    bool self_listed = false;
    for (const route::NodeInfo& node : nodes)
      self_listed = self_listed || node.name == self_.name;
    if (!self_listed) nodes.push_back(self_);
    if (nodes == nodes_ && addresses == peer_addresses_) return;
    nodes_ = std::move(nodes);
    peer_addresses_ = std::move(addresses);
    publish_locked();
  }
  if (on_change_) on_change_();
}

void LeaderDirectory::update_leaders(const std::vector<replica::LeaderHint>& hints) {
  bool changed = false;
  {
    std::lock_guard lock(mutex_);
    for (const replica::LeaderHint& hint : hints) {
      if (hint.partition >= leaders_.size()) continue;
      Leader& known = leaders_[hint.partition];
      bool newer = hint.term > known.term ||
                   (hint.term == known.term && known.replica == 0 && hint.leader != 0);
      if (!newer) continue;
      changed = changed || known.replica != hint.leader;
      known = Leader{hint.term, hint.leader};
    }
    if (changed) publish_locked();
  }
  if (changed && on_change_) on_change_();
}

void LeaderDirectory::publish_locked() {
  std::unordered_map<std::uint64_t, std::int32_t> by_replica;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].replica_id != 0) by_replica[nodes_[i].replica_id] = static_cast<std::int32_t>(i);
  }
  std::vector<std::int32_t> leaders(partitions_.count(), -1);
  for (std::size_t p = 0; p < leaders_.size(); ++p) {
    auto it = by_replica.find(leaders_[p].replica);
    if (leaders_[p].replica != 0 && it != by_replica.end()) leaders[p] = it->second;
  }
  current_ = std::make_shared<const route::Placement>(self_.name, nodes_, partitions_,
                                                      std::move(leaders), next_version_++);
}

}  // namespace qim::node
