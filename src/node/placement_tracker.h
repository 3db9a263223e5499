#pragma once
// Keeps the node's placement (route::Placement) in step with membership: rebuilds it from the
// live members after each membership change and publishes it for the I/O threads and the peer
// links, then tells the rebalancer, which moves records and sessions. Also decides which of
// the keys this node owns it may serve yet (route/readiness.h): a key that came from another
// node waits until that node has said it handed everything over (HandoffDone), it left, or the
// handoff timeout passed.
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/ring/ring.h"
#include "core/log.h"
#include "net/peer_directory.h"
#include "node/membership_node.h"
#include "route/placement.h"
#include "route/readiness.h"
#include "service/placement_source.h"

namespace qim::node {

// Owned by main; outlives the service's sessions. update(), drain() and handoff_done() run on
// the control executor; placement(), ready() and peer_address() on any thread.
class PlacementTracker final : public service::PlacementSource, public net::PeerDirectory {
 public:
  static constexpr std::chrono::seconds default_handoff_timeout{30};

  // After `handoff_timeout` without a Done, keys are served anyway (with a warning).
  PlacementTracker(route::NodeInfo self, cluster::RingOptions ring_options,
                   asio::any_io_executor control, core::Logger& logger,
                   std::chrono::milliseconds handoff_timeout = default_handoff_timeout);

  std::shared_ptr<const route::Placement> placement() const override;
  // Local under the current placement and not waiting for a handoff. Cheap: two pointer copies
  // under a mutex and a ring lookup per open wait.
  bool ready(std::string_view key) const override;

  // net::PeerDirectory: live members, and members that left gracefully (a leaving node hands
  // its records over after it has left the placement, so its links must still be accepted).
  std::string local_name() const override { return self_.name; }
  std::optional<std::string> peer_address(std::string_view node_name) const override;

  // Rebuilds from `members` (ourselves included); when the layout changed, publishes the new
  // placement and calls the change listener. Returns true when it changed. The listener is also
  // called when a live member restarted (a new restart epoch) with the layout unchanged: it
  // waits for a HandoffDone from each node, which a pass sends.
  bool update(const std::vector<MemberSnapshot>& members);
  // Called on the control executor after each published change (the rebalancer).
  void set_change_listener(std::function<void()> listener) { on_change_ = std::move(listener); }
  // The node is leaving: from now on every key routes to the other live members (the
  // rebalancer then hands everything off: the drain before a graceful exit).
  void drain();

  // `from` finished a handoff pass under the layout `layout` (a HandoffDone).
  void handoff_done(std::string_view from, std::uint64_t layout);

 private:
  // Publishes the readiness gate and schedules its next deadline. REQUIRES: control executor.
  void publish_gate();
  void on_deadline();

  const route::NodeInfo self_;
  const cluster::RingOptions ring_options_;
  core::Logger& logger_;
  std::function<void()> on_change_;
  std::uint64_t next_version_ = 1;
  bool draining_ = false;
  std::vector<MemberSnapshot> last_members_;
  route::Readiness readiness_;                                   // control executor only
  asio::steady_timer deadline_;                                  // at readiness_'s next deadline
  std::unordered_map<std::string, std::string> peer_addresses_;  // GUARDED_BY(mutex_)
  mutable std::mutex mutex_;
  std::shared_ptr<const route::Placement> current_;   // GUARDED_BY(mutex_); never null
  std::shared_ptr<const route::ReadinessGate> gate_;  // GUARDED_BY(mutex_); null: none waits
};

// The members of `members` that hold a place on the ring, as routing sees them: the live ones
// (alive or suspect) and the dead ones, marked down (their keys wait for them rather than move
// to nodes without their records; a dead member leaves the ring when SWIM reaps its tombstone,
// or at once when it left gracefully). A member whose client address does not parse is left
// out (and logged): clients could not be sent to it.
std::vector<route::NodeInfo> ring_nodes(const std::vector<MemberSnapshot>& members,
                                        core::Logger& logger);

}  // namespace qim::node
