#pragma once
// Running one client request outside its connection: at the home of the request's key (a
// request forwarded from another node) or on the blocking pool of this node (a request that
// may wait for other nodes). The same handlers as a connected session run it, so a request
// behaves the same wherever it is served, asynchronous writes included.
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "service/im_service.h"

namespace qim::session {

// Serves requests of callers logged in elsewhere. Thread-safe: each request runs in a session
// of its own, which lives until its answer is sent.
class DetachedServer {
 public:
  using Reply = std::function<void(std::vector<std::uint8_t> frame)>;

  explicit DetachedServer(service::ImService& service) : service_(service) {}
  DetachedServer(const DetachedServer&) = delete;
  DetachedServer& operator=(const DetachedServer&) = delete;

  // Runs `payload` (a client Envelope, not yet verified) as `caller`, who is logged in at the
  // node (or the session) that sent it. `reply` gets the one client frame that answers it
  // (length prefix included), exactly once, from any thread: during the call when the request
  // completes at once, later when it waits for a proposal to be applied. Never forwards again:
  // a key this node does not serve now gets Error{Unavailable}. May block when the request
  // waits for other nodes.
  void serve(const service::Caller& caller, std::span<const std::uint8_t> payload, Reply reply);
  // serve() for a caller that can wait: returns the answer once it is there. BLOCKING until
  // the request's proposals are applied (at once with the inline proposer): call it only from
  // a thread that the proposer does not need meanwhile.
  std::vector<std::uint8_t> serve_and_wait(const service::Caller& caller,
                                           std::span<const std::uint8_t> payload);

 private:
  service::ImService& service_;
};

}  // namespace qim::session
