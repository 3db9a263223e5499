#pragma once
// Moves this node's user records to their new homes when the placement changes, then
// redirects the sessions that follow them; on a graceful leave, hands off everything first
// (the drain). Decisions come from route/handoff.h; this is the shell that reads the store,
// ships batches over the peer links and deletes what the new home has acknowledged.
//
// What moves: the user-keyed columns (accounts, friends, convs, cursors) of every user whose
// home is now another node. Conversation-keyed records (logs, heads, dedup, groups) stay
// where they are: serving them across nodes is the cross-node messaging work, not done yet.
#include <asio.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/log.h"
#include "net/peer_links.h"
#include "node/placement_tracker.h"
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

  // Largest payload of one Handoff request.
  static constexpr std::size_t max_batch_bytes = 1024 * 1024;

 private:
  asio::awaitable<void> run_loop();
  // One pass: plan, ship, delete, redirect.
  asio::awaitable<void> hand_off_once();
  // Ships `users`' records to `node` in batches; true when all were acknowledged (and then
  // deleted here).
  asio::awaitable<bool> ship(std::string node, std::vector<std::string> users);

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
  asio::steady_timer idle_;  // cancelled whenever a run ends
};

}  // namespace qim::node
