#pragma once
// qimctl's blocking admin client: one TCP connection to a node's admin endpoint, AdminHello
// first, then one request at a time. Every step has a deadline, so an unreachable or silent
// node is an error after the timeout, never a hang.
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "admin/admin_frame.h"

namespace qim::ctl {

struct AdminFailure {
  enum class Kind {
    unreachable,  // could not resolve, connect, send or receive
    refused,      // the node refused the token (or the connection before authentication)
    rejected,     // the node answered a request with AdminError
    protocol,     // the node's answer was not a valid reply
  };
  Kind kind = Kind::unreachable;
  errc code = errc::ok;  // for refused and rejected: the node's code
  std::string message;
};

// A verified reply. The envelope points into `storage`.
struct ReceivedReply {
  std::vector<std::uint64_t> storage;  // 8-byte aligned payload
  const admin_wire::AdminEnvelope* envelope = nullptr;
};

// Not thread-safe. Closes the connection in its destructor.
class AdminClient {
 public:
  explicit AdminClient(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // Connects to host:port and authenticates with `token` (an empty one is sent as is: the node
  // refuses it). On success `node_name` and `version` are the node's.
  bool connect(const std::string& host, std::uint16_t port, const std::string& token,
               std::string& node_name, std::string& version, AdminFailure& failure);

  // Sends one request frame (built with an AdminFrameBuilder) and waits for its reply. An
  // AdminError reply is a failure of kind `rejected`.
  bool call(std::span<const std::uint8_t> frame, ReceivedReply& reply, AdminFailure& failure);

  // The req_id to put in the next request.
  std::uint32_t next_req_id() { return ++last_req_id_; }

 private:
  bool send_all(std::span<const std::uint8_t> bytes, AdminFailure& failure);
  bool receive(ReceivedReply& reply, AdminFailure& failure);
  bool read_exact(std::uint8_t* data, std::size_t size, AdminFailure& failure);

  const std::chrono::milliseconds timeout_;
  std::chrono::steady_clock::time_point deadline_;  // of the current call
  int fd_ = -1;
  std::uint32_t last_req_id_ = 0;
};

}  // namespace qim::ctl
