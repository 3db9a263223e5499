#pragma once
// Moves this node's records to their new homes when the placement changes, then redirects the
// sessions that follow them; on a graceful leave, hands off everything first (the drain).
// Decisions come from route/handoff.h; this is the shell that reads the store, ships batches
// over the peer links and deletes what the new home has acknowledged.
//
// What moves: every record (all columns but meta) whose placement key
// (service/placement_keys.h) has its home on another node. A pass reads the whole store under
// one placement, so all records of one placement key go to the same node in the same pass.
// After a pass, each other live member for which everything was acknowledged (also when nothing
// was due to it) hears a HandoffDone: it serves the keys it gained from us from then on
// (route/readiness.h).
#include <asio.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/log.h"
#include "net/peer_links.h"
#include "node/placement_tracker.h"
#include "route/handoff.h"
#include "service/im_service.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main. Runs on the control executor; store work hops to `blocking` and back.
// Handoffs run one at a time: a change during a run schedules one more run after it.
class Rebalancer {
 public:
  Rebalancer(asio::any_io_executor control, asio::any_io_executor blocking, store::Kv& kv,
             net::PeerLinks& peers, PlacementTracker& placement, service::ImService& service,
             core::Logger& logger);

  // Control executor: the placement changed; hand off and redirect soon.
  void placement_changed();
  // Control executor: hands off everything this node holds (the placement must already
  // exclude it: PlacementTracker::drain) and redirects its sessions. Completes when done or
  // after `timeout`.
  asio::awaitable<void> drain(std::chrono::milliseconds timeout);
  // Completes when no run is in progress or scheduled.
  asio::awaitable<void> stop();

  // Completed passes so far (tests wait on it). Control executor.
  std::uint64_t passes() const { return passes_; }

  // Largest payload of one Handoff request.
  static constexpr std::size_t max_batch_bytes = 1024 * 1024;
  // Records read per hop to the blocking pool: a stop is noticed between hops.
  static constexpr std::size_t scan_step_records = 64 * 1024;

 private:
  // What one pass did for one destination.
  struct NodeTally {
    std::size_t records = 0;         // handed over and deleted here
    bool kept = false;               // a record changed meanwhile: it goes with the next pass
    std::vector<std::string> users;  // users whose accounts/cursors records moved
  };
  struct PassState {
    std::map<std::string, NodeTally> nodes;
    std::unordered_set<std::string> users_left;  // users with accounts/cursors records kept
  };

  asio::awaitable<void> run_loop();
  // One pass: read, ship, delete, tell the others, redirect.
  asio::awaitable<void> hand_off_once();
  // Ships one batch to `node`; on its ack deletes what is unchanged. True when acknowledged.
  asio::awaitable<bool> ship(const std::string& node, std::vector<route::HandoffRecord> records,
                             PassState& pass);
  void send_done(const std::string& node, std::uint64_t layout);
  // Tells `nodes` again, a few times with growing delays, while no other pass has started
  // and the placement is unchanged: a one-way message is lost when its receiver did not know
  // this node yet (it had not heard of the join) and refused the link.
  asio::awaitable<void> repeat_dones(std::uint64_t generation, std::uint64_t layout,
                                     std::vector<std::string> nodes);

  asio::any_io_executor control_;
  asio::any_io_executor blocking_;
  store::Kv& kv_;
  net::PeerLinks& peers_;
  PlacementTracker& placement_;
  service::ImService& service_;
  core::Logger& logger_;
  bool running_ = false;
  bool again_ = false;
  bool stopping_ = false;
  std::uint64_t passes_ = 0;
  std::uint64_t generation_ = 0;  // grows with every pass
  asio::steady_timer idle_;       // cancelled whenever a run ends
  asio::steady_timer repeat_;     // repeat_dones(); cancelled by a new pass and by stop()
};

}  // namespace qim::node
