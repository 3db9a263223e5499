#pragma once
// The admin endpoint (qimctl): accepts TCP connections on the admin address, frames them
// (u32 length + AdminEnvelope, bounded size, idle timeout) and hands each frame to an
// admin::AdminDispatcher, then carries out its directive (keep reading, close, or leave).
#include <asio.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "admin/admin_frame.h"
#include "admin/admin_hooks.h"
#include "core/log.h"

namespace qim::net {

struct AdminListenerOptions {
  std::uint32_t max_frame_bytes = admin::max_admin_frame_bytes;
  // A connection that sends no frame for this long is closed (a first frame included, so an
  // unauthenticated connection cannot hold a slot).
  std::chrono::milliseconds idle_timeout{60'000};
  // Admin connections at once; one more is told TooManyConnections and closed.
  std::size_t max_connections = 16;
  // How long a reply write may take before the connection is dropped.
  std::chrono::milliseconds write_timeout{10'000};
  // How long stop() waits for connections (and a request running on the blocking pool) to end.
  std::chrono::milliseconds shutdown_timeout{5'000};
};

// Owned by main; constructed after the blocking pool and destroyed before it.
// Executors: the acceptor and every connection's coroutine run on the control executor given
// at construction (main's thread). Requests are decided on `blocking_pool` (creating a user or
// resetting a password hashes it), one at a time per connection; replies are written back on
// the control executor. Invariant: connections_ is touched on the control executor only.
class AdminListener {
 public:
  // `hooks` and `blocking_pool` outlive the listener. REQUIRES: `token` is the admin token.
  AdminListener(asio::any_io_executor control_executor, asio::thread_pool& blocking_pool,
                admin::AdminHooks& hooks, std::string token, core::Logger& logger,
                AdminListenerOptions options = {});
  ~AdminListener();

  AdminListener(const AdminListener&) = delete;
  AdminListener& operator=(const AdminListener&) = delete;

  // Binds and listens (port 0: an ephemeral port). False with `error` set on failure.
  bool listen(const asio::ip::tcp::endpoint& endpoint, std::string& error);
  // REQUIRES: listen() succeeded.
  asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }

  // Starts the accept loop. REQUIRES: listen() succeeded.
  void start();
  // Stops accepting, closes every connection and waits (bounded by shutdown_timeout) until
  // their coroutines have finished. Runs on the control executor.
  asio::awaitable<void> stop();

 private:
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(asio::ip::tcp::socket socket, bool reject);
  asio::awaitable<void> run_connection(asio::ip::tcp::socket& socket);
  // Reads exactly `buffer` bytes before `deadline`; false on EOF, error, close or timeout
  // (then `timed_out` is set).
  asio::awaitable<bool> read_exact(asio::ip::tcp::socket& socket, asio::mutable_buffer buffer,
                                   std::chrono::steady_clock::time_point deadline, bool& timed_out);
  asio::awaitable<bool> write_all(asio::ip::tcp::socket& socket, asio::const_buffer buffer);
  void connection_finished();

  asio::any_io_executor control_executor_;
  asio::thread_pool& blocking_pool_;
  admin::AdminHooks& hooks_;
  const std::string token_;
  core::Logger& logger_;
  const AdminListenerOptions options_;
  asio::ip::tcp::acceptor acceptor_;
  asio::ip::tcp::endpoint local_endpoint_;
  bool accepting_ = false;
  std::unordered_set<asio::ip::tcp::socket*> connections_;  // served now, rejected ones too
  asio::steady_timer connections_done_;                     // cancelled when the last one ends
};

}  // namespace qim::net
