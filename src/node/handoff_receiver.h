#pragma once
// The receiving side of a handoff (node/rebalancer.h is the sending side): writes the records
// another node hands over, durably, before acknowledging them; and takes the HandoffDone that
// ends a pass to the placement tracker, which then serves the keys that came from its sender.
#include <asio.hpp>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "node/placement_tracker.h"
#include "qim/schemas/peer_generated.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main; called from the peer protocol (node/cluster_peers.h) on the links' executor.
class HandoffReceiver {
 public:
  // Store work runs on `blocking`. REQUIRES: `kv` and `tracker` outlive this object.
  HandoffReceiver(store::Kv& kv, asio::any_io_executor blocking, PlacementTracker& tracker,
                  core::Logger& logger)
      : kv_(kv), blocking_(std::move(blocking)), tracker_(tracker), logger_(logger) {}

  // Validates and writes the records of `handoff` on the blocking executor, then resumes on
  // the caller's executor and returns the encoded reply: HandoffAck, or PeerError (nothing
  // written) when a record has a column that does not travel (meta, unknown) or a key that
  // does not parse for its column. Every column but meta is accepted. A log or dedup record
  // that is already stored with a different value is kept (entries are immutable): it is
  // logged, counted in conflicts() and left out of the ack's count.
  // REQUIRES: `from_node` and `handoff` stay valid until the awaitable completes (the request
  // envelope handed to PeerHandler::on_request does).
  asio::awaitable<std::vector<std::uint8_t>> accept(std::string_view from_node,
                                                    const peer_wire::Handoff& handoff);

  // A one-way HandoffDone from `from_node`. Runs on the tracker's (control) executor.
  void done(std::string_view from_node, const peer_wire::HandoffDone& message);

  // Called on the caller's executor of accept() after it wrote records whose home under this
  // node's placement is another node (the sender's view differed): they must move on, so wire
  // it to Rebalancer::placement_changed().
  void set_stray_listener(std::function<void()> listener) { on_stray_ = std::move(listener); }
  // Called (on the blocking pool) with the placement key of every record written, after the
  // write: the service drops what it caches of them.
  void set_written_listener(std::function<void(std::string_view placement_key)> listener) {
    on_written_ = std::move(listener);
  }

  // Log and dedup records refused because a different one was stored. Any thread.
  std::uint64_t conflicts() const { return conflicts_.load(std::memory_order_relaxed); }

 private:
  // The blocking part of accept(); sets `stray` when a written record is not homed here.
  std::vector<std::uint8_t> write(const std::string& from_node, const peer_wire::Handoff& handoff,
                                  bool& stray);

  store::Kv& kv_;
  asio::any_io_executor blocking_;
  PlacementTracker& tracker_;
  core::Logger& logger_;
  std::function<void()> on_stray_;
  std::function<void(std::string_view)> on_written_;
  // One batch at a time: the log/dedup check and the write are not atomic together.
  std::mutex write_mutex_;
  std::atomic<std::uint64_t> conflicts_{0};
};

}  // namespace qim::node
