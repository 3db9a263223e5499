#pragma once
// Who leads every partition, and where every member listens, as this node knows it (DESIGN §7):
// the routing view (route::Placement) the sessions and the peer code route by, rebuilt on every
// membership change and on every leader hint, from this node's own replicas and the others'.
// Hints are ordered by term: a higher term replaces what is known; within one term, a known
// leader replaces "no leader". A stale hint costs a redirect or a retry, never a wrong answer.
//
// Also the peer links' directory: a member may link with us while it is alive or suspect, or
// while it has left but is still finishing (a draining node keeps its links to the end).
//
// Owned by main; outlives the service's sessions and the peer links. Every method is
// thread-safe: membership changes come from the control thread, hints from the replica host's
// thread, reads from anywhere.
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "net/peer_directory.h"
#include "node/membership_node.h"
#include "replica/raft_wire.h"
#include "route/placement.h"
#include "service/placement_source.h"

namespace qim::node {

class LeaderDirectory final : public service::PlacementSource, public net::PeerDirectory {
 public:
  LeaderDirectory(route::NodeInfo self, route::Partitions partitions, core::Logger& logger);

  // service::PlacementSource
  std::shared_ptr<const route::Placement> placement() const override;

  // net::PeerDirectory
  std::string local_name() const override { return name_; }
  std::optional<std::string> peer_address(std::string_view node_name) const override;

  // This node's client address, once its listener is bound. REQUIRES: before membership flows.
  void set_self(route::NodeInfo self);
  void update_members(const std::vector<MemberSnapshot>& members);
  void update_leaders(const std::vector<replica::LeaderHint>& hints);
  // Called after each published change, on the thread that made it (the session redirects).
  // REQUIRES: set before membership or hints flow.
  void set_change_listener(std::function<void()> listener) { on_change_ = std::move(listener); }

 private:
  struct Leader {
    std::uint64_t term = 0;
    std::uint64_t replica = 0;  // 0: none known
  };
  // Rebuilds and publishes the placement. REQUIRES: mutex_ held.
  void publish_locked();

  route::NodeInfo self_;  // GUARDED_BY(mutex_) after set_self
  const std::string name_;
  const route::Partitions partitions_;
  core::Logger& logger_;
  std::function<void()> on_change_;
  mutable std::mutex mutex_;
  std::vector<route::NodeInfo> nodes_;                           // GUARDED_BY(mutex_)
  std::unordered_map<std::string, std::string> peer_addresses_;  // GUARDED_BY(mutex_)
  std::vector<Leader> leaders_;                                  // GUARDED_BY(mutex_)
  std::uint64_t next_version_ = 1;                               // GUARDED_BY(mutex_)
  std::shared_ptr<const route::Placement> current_;              // GUARDED_BY(mutex_)
};

// The members routing can send clients to: live ones (up) and dead ones (down, so that their
// partitions' requests are refused rather than sent to a node that cannot answer). Members
// that left are not listed, nor one whose client address does not parse (logged).
std::vector<route::NodeInfo> routable_nodes(const std::vector<MemberSnapshot>& members,
                                            core::Logger& logger);

}  // namespace qim::node
