#pragma once
// One framed client connection to a qim node, as coroutines on one executor: a reader, a
// writer fed by a bounded queue, requests matched to responses by req_id, and heartbeats
// (client/heartbeat.h) that close the connection when the server goes silent. The blocking
// Client uses one; a load generator can run thousands on a few threads.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "client/heartbeat.h"
#include "client/server_pins.h"
#include "proto/frame.h"
#include "qim/client.h"
#include "qim/errc.h"

namespace qim::client {

// One verified frame from the server. The envelope points into `storage`, whose heap buffer
// does not move when the Frame is moved.
struct Frame {
  std::vector<std::uint64_t> storage;  // 8-byte aligned, as FlatBuffers requires
  const wire::Envelope* envelope = nullptr;
};

struct ConnectionOptions {
  // TLS with this context (client/tls_client_context.h), or plaintext when null. `verify`:
  // check that the certificate names the host connected to.
  std::shared_ptr<asio::ssl::context> tls;
  bool verify_host = true;
  // Trust on first use: the server's key must be the one pinned for its address (a new
  // address is pinned). Null: no pinning.
  std::shared_ptr<ServerPins> pins;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{10'000};
  // How long the server may take to answer Hello (a paused node accepts and says nothing).
  std::chrono::milliseconds hello_timeout{10'000};
  // Heartbeats once open: the interval (0: the one HelloOk advertises, else the fallback) and
  // how long nothing may come back after a Ping. `heartbeats` false: none (the owner pings).
  bool heartbeats = true;
  std::chrono::milliseconds heartbeat_interval{0};
  std::chrono::milliseconds heartbeat_fallback{3'000};
  std::chrono::milliseconds pong_timeout{3'000};
  std::uint32_t max_frame_bytes = 4 * 1024 * 1024;
  std::size_t max_pending_requests = 1024;
  std::size_t max_outbound_frames = 4096;
  std::string client_name = "qim-client";
};

// Owned through shared_ptr because its reader and writer coroutines keep it alive until they
// finish, after the owner has let go. Runs entirely on `executor`: every method must be
// called there (it is not thread-safe), except that the object may be destroyed anywhere once
// closed.
class AsyncConnection : public std::enable_shared_from_this<AsyncConnection> {
 public:
  // Builds one frame around a req_id with the connection's builder; returns its bytes.
  using FrameWriter =
      std::function<std::span<const std::uint8_t>(proto::FrameBuilder&, std::uint32_t req_id)>;
  // Pushes (req_id 0) other than Error.
  using PushHandler = std::function<void(Frame)>;
  // Sees each answer to a request still waited for, in the order frames arrive (so in order
  // with the pushes), before the request's caller resumes.
  using ReplyObserver = std::function<void(const Frame&)>;
  // Called once when the connection ends, with the reason (a pushed Error, a socket error,
  // a malformed frame, a server that stopped answering, or close()).
  using CloseHandler = std::function<void(const Error&)>;

  AsyncConnection(asio::any_io_executor executor, ConnectionOptions options);
  ~AsyncConnection();

  void set_push_handler(PushHandler handler) { push_handler_ = std::move(handler); }
  void set_reply_observer(ReplyObserver observer) { reply_observer_ = std::move(observer); }
  void set_close_handler(CloseHandler handler) { close_handler_ = std::move(handler); }

  // Resolves, connects, starts the reader and writer, and exchanges Hello/HelloOk.
  // REQUIRES: `host` outlives the awaited operation (co_await it at once, on a named value:
  // g++ 12 destroys temporaries in a co_await expression twice, so callers avoid them).
  asio::awaitable<Result<ServerInfo>> open(const std::string& host, std::uint16_t port);

  // Sends one request and waits for the frame that echoes its req_id (an Error frame is
  // returned as a Frame too; the caller decides). Fails with unavailable on timeout or when
  // the connection ends first, limit_exceeded when too many requests are in flight.
  // REQUIRES: `writer` is a named object that outlives the awaited operation.
  asio::awaitable<Result<Frame>> request(const FrameWriter& writer,
                                         std::chrono::milliseconds timeout);

  // Ends the connection: fails pending requests with `reason` and calls the close handler
  // (unless `quiet`). Idempotent.
  void close(const Error& reason, bool quiet = false);

  bool is_open() const { return open_; }
  // The heartbeat closed it: the server stopped answering.
  bool went_silent() const { return went_silent_; }
  const ServerInfo& server() const { return server_; }
  const std::string& host() const { return host_; }
  std::uint16_t port() const { return port_; }
  // When the last frame was queued for writing, and when the last one was received.
  std::chrono::steady_clock::time_point last_send_time() const { return last_send_time_; }
  std::chrono::steady_clock::time_point last_receive_time() const { return last_receive_time_; }
  // The heartbeat interval in use (after HelloOk), for messages.
  std::chrono::milliseconds heartbeat_interval() const { return heartbeat_.interval; }

 private:
  struct Pending {
    asio::steady_timer* wake;  // cancelled when the response (or the end) arrives
    std::optional<Result<Frame>> result;
  };

  // The TLS handshake, bounded like the connect. Error: why it failed, readably.
  asio::awaitable<Error> handshake(const std::string& host, std::uint16_t port);
  // After a handshake: Error{} unless the key differs from the one pinned for the address.
  Error check_pin(const std::string& host, std::uint16_t port);
  asio::awaitable<void> reader();
  // Reads/writes exactly `buffer` through TLS when the connection has it.
  asio::awaitable<void> read_exactly(asio::mutable_buffer buffer, std::error_code& ec);
  asio::awaitable<void> write_all(asio::const_buffer buffer, std::error_code& ec);
  asio::awaitable<void> writer();
  asio::awaitable<void> heartbeats();
  bool enqueue(std::span<const std::uint8_t> frame);
  std::uint32_t next_req_id();

  asio::any_io_executor executor_;
  ConnectionOptions options_;
  asio::ip::tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;  // over socket_, or null
  asio::steady_timer write_wake_;
  asio::steady_timer heartbeat_timer_;
  HeartbeatSettings heartbeat_;
  std::deque<std::vector<std::uint8_t>> outbound_;
  std::unordered_map<std::uint32_t, Pending*> pending_;
  proto::FrameBuilder builder_;
  PushHandler push_handler_;
  ReplyObserver reply_observer_;
  CloseHandler close_handler_;
  ServerInfo server_;
  std::string host_;
  std::uint16_t port_ = 0;
  std::uint32_t last_req_id_ = 0;
  std::uint64_t ping_nonce_ = 0;
  bool open_ = false;
  bool closed_ = false;
  bool went_silent_ = false;
  std::chrono::steady_clock::time_point last_send_time_{};
  std::chrono::steady_clock::time_point last_receive_time_{};
};

// Decoding helpers shared by the Client (the frame must stay alive while they read it).
Error error_from_frame(const Frame& frame);
Message message_from_wire(const wire::Message& message);

}  // namespace qim::client
