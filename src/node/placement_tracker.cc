#include "node/placement_tracker.h"

#include <unordered_map>

#include "net/endpoint.h"

namespace qim::node {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const std::string& name : names) {
    if (!text.empty()) text += ", ";
    text += name;
  }
  return text;
}

}  // namespace

PlacementTracker::PlacementTracker(route::NodeInfo self, cluster::RingOptions ring_options,
                                   asio::any_io_executor control, core::Logger& logger,
                                   std::chrono::milliseconds handoff_timeout)
    : self_(self),
      ring_options_(ring_options),
      logger_(logger),
      readiness_(handoff_timeout),
      deadline_(std::move(control)),
      current_(std::make_shared<const route::Placement>(
          route::Placement::solo(std::move(self), ring_options))) {}

std::shared_ptr<const route::Placement> PlacementTracker::placement() const {
  std::lock_guard lock(mutex_);
  return current_;
}

bool PlacementTracker::ready(std::string_view key) const {
  std::shared_ptr<const route::Placement> placement;
  std::shared_ptr<const route::ReadinessGate> gate;
  {
    std::lock_guard lock(mutex_);
    placement = current_;
    gate = gate_;
  }
  return placement->is_local(key) && (gate == nullptr || !gate->blocks(key));
}

std::optional<std::string> PlacementTracker::peer_address(std::string_view node_name) const {
  std::lock_guard lock(mutex_);
  auto it = peer_addresses_.find(std::string(node_name));
  if (it == peer_addresses_.end()) return std::nullopt;
  return it->second;
}

std::vector<route::NodeInfo> ring_nodes(const std::vector<MemberSnapshot>& members,
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
    nodes.push_back({member.name, client->host, client->port, member.peer_address, live});
  }
  return nodes;
}

void PlacementTracker::drain() {
  draining_ = true;
  // Nothing is served here any more, so nothing waits; and the timer must not hold shutdown.
  deadline_.cancel();
  update(last_members_);
}

bool PlacementTracker::update(const std::vector<MemberSnapshot>& members) {
  // A live member that restarted waits for a Done from us (route/readiness.h), which only a
  // pass sends; the layout may be unchanged when it came back before it was declared dead.
  bool restarted = false;
  {
    std::unordered_map<std::string_view, const MemberSnapshot*> before;
    for (const MemberSnapshot& member : last_members_)
      before.emplace(member.name, &member);
    for (const MemberSnapshot& member : members) {
      if (member.name == self_.name || !cluster::swim::is_live(member.state)) continue;
      auto found = before.find(member.name);
      if (found != before.end() && found->second->restart_epoch != member.restart_epoch) {
        restarted = true;
      }
    }
  }
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
  std::vector<route::NodeInfo> nodes = ring_nodes(members, logger_);
  std::erase_if(nodes, [this](const route::NodeInfo& node) { return node.name == self_.name; });
  // A member routes as part of its own placement (also before the others know it) until it
  // drains; a draining node with no one left to hand over to keeps serving to the end.
  if (!draining_ || nodes.empty()) nodes.push_back(self_);
  auto next = std::make_shared<const route::Placement>(self_.name, std::move(nodes), ring_options_,
                                                       next_version_);
  std::shared_ptr<const route::Placement> previous;
  {
    std::lock_guard lock(mutex_);
    if (!current_->same_layout(*next)) previous = current_;
  }
  if (previous == nullptr) {
    if (restarted && !draining_ && on_change_) {
      logger_.info("route", "a member restarted; running a handoff pass to tell it what it has");
      on_change_();
    }
    return false;
  }
  readiness_.placement_changed(*previous, *next, std::chrono::steady_clock::now());
  {
    std::lock_guard lock(mutex_);
    current_ = next;
  }
  publish_gate();
  ++next_version_;
  logger_.info("route", "placement {}: {} node(s), this node owns {:.1f}% of keys", next->version(),
               next->members().size(), 100.0 * next->share_of(self_.name));
  if (auto awaited = readiness_.awaited(); !awaited.empty()) {
    logger_.info("route",
                 "placement {}: keys that came from {} wait until each has handed them over",
                 next->version(), joined(awaited));
  }
  if (on_change_) on_change_();
  return true;
}

void PlacementTracker::handoff_done(std::string_view from, std::uint64_t layout) {
  if (!readiness_.handoff_done(from, layout)) {
    logger_.debug("route", "{} finished a handoff pass for layout {:016x}; nothing waited on it",
                  from, layout);
    return;
  }
  auto awaited = readiness_.awaited();
  if (awaited.empty()) {
    logger_.info("route", "{} has handed over what it held for this node; every key is ready",
                 from);
  } else {
    logger_.info("route", "{} has handed over what it held for this node; still waiting for {}",
                 from, joined(awaited));
  }
  publish_gate();
}

void PlacementTracker::publish_gate() {
  auto gate = readiness_.gate();
  {
    std::lock_guard lock(mutex_);
    gate_ = std::move(gate);
  }
  auto deadline = readiness_.next_deadline();
  if (!deadline || draining_) {
    deadline_.cancel();
    return;
  }
  deadline_.expires_at(*deadline);  // cancels the previous wait
  deadline_.async_wait([this](const asio::error_code& error) {
    if (!error) on_deadline();
  });
}

void PlacementTracker::on_deadline() {
  auto given_up = readiness_.expire(std::chrono::steady_clock::now());
  if (!given_up.empty()) {
    logger_.warn("route",
                 "no handoff report from {} in time; serving the keys that came from it anyway "
                 "(records it still holds for them arrive later)",
                 joined(given_up));
  }
  publish_gate();
}

}  // namespace qim::node
