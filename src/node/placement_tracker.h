#pragma once
// Keeps the node's placement (route::Placement) in step with membership: rebuilds it from the
// live members after each membership change and publishes it for the I/O threads and the peer
// links, then tells the rebalancer, which moves records and sessions.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cluster/ring/ring.h"
#include "core/log.h"
#include "net/peer_directory.h"
#include "node/membership_node.h"
#include "route/placement.h"
#include "service/placement_source.h"

namespace qim::node {

// Owned by main; outlives the service's sessions. update() and drain() run on the control
// executor; placement() on any thread.
class PlacementTracker final : public service::PlacementSource, public net::PeerDirectory {
 public:
  PlacementTracker(route::NodeInfo self, cluster::RingOptions ring_options, core::Logger& logger);

  std::shared_ptr<const route::Placement> placement() const override;

  // net::PeerDirectory: live members, and members that left gracefully (a leaving node hands
  // its records over after it has left the placement, so its links must still be accepted).
  std::string local_name() const override { return self_.name; }
  std::optional<std::string> peer_address(std::string_view node_name) const override;

  // Rebuilds from `members` (ourselves included); when the layout changed, publishes the new
  // placement and calls the change listener. Returns true when it changed.
  bool update(const std::vector<MemberSnapshot>& members);
  // Called on the control executor after each published change (the rebalancer).
  void set_change_listener(std::function<void()> listener) { on_change_ = std::move(listener); }
  // The node is leaving: from now on every key routes to the other live members (the
  // rebalancer then hands everything off: the drain before a graceful exit).
  void drain();

 private:
  const route::NodeInfo self_;
  const cluster::RingOptions ring_options_;
  core::Logger& logger_;
  std::function<void()> on_change_;
  std::uint64_t next_version_ = 1;
  bool draining_ = false;
  std::vector<MemberSnapshot> last_members_;
  std::unordered_map<std::string, std::string> peer_addresses_;  // GUARDED_BY(mutex_)
  mutable std::mutex mutex_;
  std::shared_ptr<const route::Placement> current_;  // GUARDED_BY(mutex_); never null
};

// The live members (alive or suspect) of `members` as routing sees them. A member whose client
// address does not parse is left out (and logged): clients could not be sent to it.
std::vector<route::NodeInfo> live_nodes(const std::vector<MemberSnapshot>& members,
                                        core::Logger& logger);

}  // namespace qim::node
