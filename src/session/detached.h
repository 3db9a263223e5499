#pragma once
// Running one client request outside its connection: at the home of the request's key (a
// request forwarded from another node) or on the blocking pool of this node (a request that
// may wait for other nodes). The same handlers as a connected session run it, so a request
// behaves the same wherever it is served.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "service/im_service.h"
#include "session/connection.h"

namespace qim::session {

// Serves requests of callers logged in elsewhere, one at a time, keeping its buffers from one
// request to the next. Not thread-safe: one per thread or strand.
class DetachedServer {
 public:
  explicit DetachedServer(service::ImService& service) : service_(service) {}
  DetachedServer(const DetachedServer&) = delete;
  DetachedServer& operator=(const DetachedServer&) = delete;

  // Runs `payload` (a client Envelope, not yet verified) as `caller`, who is logged in at the
  // node that sent it, and returns the one client frame that answers it (length prefix
  // included), valid until the next serve(). Never forwards again: a key this node does not
  // serve now gets Error{Unavailable}. May block when the request waits for other nodes.
  std::span<const std::uint8_t> serve(const service::Caller& caller,
                                      std::span<const std::uint8_t> payload);

 private:
  // Keeps what the handlers send; work they would hand off runs inline (a detached request
  // already runs where it may).
  class Capture final : public Connection {
   public:
    bool send(std::span<const std::uint8_t> frame) override;
    void close_after_flush() override {}
    const std::string& remote_host() const override { return host_; }
    void run_blocking(std::function<void()> work, std::function<void()> then) override {
      work();
      then();
    }
    Completion begin_async() override { return {}; }

    void start() {
      frame_.clear();
      captured_ = false;
    }
    bool captured() const { return captured_; }
    std::vector<std::uint8_t>& frame() { return frame_; }

   private:
    std::string host_ = "peer";
    std::vector<std::uint8_t> frame_;  // the first frame sent: the reply
    bool captured_ = false;
  };

  service::ImService& service_;
  Capture capture_;
  std::vector<std::uint64_t> aligned_;  // a payload that was not 8-byte aligned, copied
};

// DetachedServer::serve for one request, copied out.
std::vector<std::uint8_t> serve_detached(service::ImService& service, const service::Caller& caller,
                                         std::span<const std::uint8_t> payload);

}  // namespace qim::session
