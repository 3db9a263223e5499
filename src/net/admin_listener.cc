#include "net/admin_listener.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <exception>
#include <utility>
#include <vector>

#include "admin/admin_dispatch.h"
#include "proto/frame.h"
#include "session/session.h"

namespace qim::net {

namespace {
using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
// Accept errors such as EMFILE repeat until something closes: back off instead of spinning.
constexpr std::chrono::milliseconds accept_error_backoff{100};
}  // namespace

AdminListener::AdminListener(asio::any_io_executor control_executor,
                             asio::thread_pool& blocking_pool, admin::AdminHooks& hooks,
                             std::string token, core::Logger& logger, AdminListenerOptions options)
    : control_executor_(std::move(control_executor)),
      blocking_pool_(blocking_pool),
      hooks_(hooks),
      token_(std::move(token)),
      logger_(logger),
      options_(options),
      acceptor_(control_executor_),
      connections_done_(control_executor_) {}

AdminListener::~AdminListener() = default;

bool AdminListener::listen(const asio::ip::tcp::endpoint& endpoint, std::string& error) {
  asio::error_code code;
  acceptor_.open(endpoint.protocol(), code);
  if (!code) acceptor_.set_option(asio::socket_base::reuse_address(true), code);
  if (!code) acceptor_.bind(endpoint, code);
  if (!code) acceptor_.listen(asio::socket_base::max_listen_connections, code);
  if (!code) local_endpoint_ = acceptor_.local_endpoint(code);
  if (code) {
    error = fmt::format("cannot listen for admin connections on {}:{}: {}",
                        endpoint.address().to_string(), endpoint.port(), code.message());
    asio::error_code ignored;
    acceptor_.close(ignored);
    return false;
  }
  return true;
}

void AdminListener::start() {
  accepting_ = true;
  asio::co_spawn(control_executor_, accept_loop(), [this](std::exception_ptr exception) {
    if (!exception) return;
    try {
      std::rethrow_exception(exception);
    } catch (const std::exception& error) {
      logger_.error("admin", "accept loop failed: {}", error.what());
    }
  });
}

asio::awaitable<void> AdminListener::accept_loop() {
  asio::steady_timer backoff(control_executor_);
  while (accepting_) {
    auto [error, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (!accepting_ || !acceptor_.is_open()) break;
    if (error) {
      logger_.warn("admin", "accept failed: {}", error.message());
      backoff.expires_after(accept_error_backoff);
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    // Rejected connections are told so, which takes a slot too; beyond twice the limit they
    // are closed without a word, so a connection flood costs nothing.
    bool reject = connections_.size() >= options_.max_connections;
    if (connections_.size() >= 2 * options_.max_connections) continue;
    asio::co_spawn(control_executor_, serve(std::move(socket), reject),
                   [this](std::exception_ptr exception) {
                     if (!exception) return;
                     try {
                       std::rethrow_exception(exception);
                     } catch (const std::exception& failure) {
                       logger_.warn("admin", "admin connection failed: {}", failure.what());
                     }
                   });
  }
}

asio::awaitable<void> AdminListener::serve(asio::ip::tcp::socket socket, bool reject) {
  connections_.insert(&socket);
  // Runs however the coroutine ends (an exception included), so stop() never waits on a ghost.
  struct Finished {
    AdminListener& listener;
    asio::ip::tcp::socket& socket;
    ~Finished() {
      listener.connections_.erase(&socket);
      listener.connection_finished();
    }
  } finished{*this, socket};
  if (reject) {
    admin::AdminFrameBuilder builder(256);
    auto frame =
        builder.error(0, errc::too_many_connections, "too many admin connections; retry later");
    co_await write_all(socket, asio::buffer(frame.data(), frame.size()));
  } else {
    co_await run_connection(socket);
  }
  asio::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

asio::awaitable<void> AdminListener::run_connection(asio::ip::tcp::socket& socket) {
  admin::AdminDispatcher dispatcher(hooks_, token_, session::server_version);
  admin::AdminFrameBuilder builder(256);
  std::vector<std::uint64_t> payload;  // 8-byte aligned, as FlatBuffers needs
  for (;;) {
    auto deadline = std::chrono::steady_clock::now() + options_.idle_timeout;
    std::uint8_t header[proto::frame_header_bytes];
    bool timed_out = false;
    if (!co_await read_exact(socket, asio::buffer(header), deadline, timed_out)) {
      if (timed_out) {
        auto frame = builder.error(0, errc::idle_timeout, "no request for too long");
        co_await write_all(socket, asio::buffer(frame.data(), frame.size()));
      }
      co_return;
    }
    std::uint32_t length = proto::decode_frame_length(header);
    if (length == 0 || length > options_.max_frame_bytes) {
      auto frame = length == 0 ? builder.error(0, errc::malformed, "empty frame")
                               : builder.error(0, errc::frame_too_large,
                                               fmt::format("frame of {} bytes; at most {}", length,
                                                           options_.max_frame_bytes));
      co_await write_all(socket, asio::buffer(frame.data(), frame.size()));
      co_return;
    }
    payload.assign((length + 7) / 8, 0);
    if (!co_await read_exact(socket, asio::buffer(payload.data(), length), deadline, timed_out)) {
      co_return;
    }
    std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                        length);
    // Off the control thread: a request may hash a password. One request at a time per
    // connection, so the dispatcher is never used concurrently.
    admin::AdminReply reply = co_await asio::co_spawn(
        blocking_pool_,
        [&dispatcher, bytes]() -> asio::awaitable<admin::AdminReply> {
          co_return dispatcher.handle(bytes);
        },
        asio::use_awaitable);
    if (!co_await write_all(socket, asio::buffer(reply.frame))) co_return;
    switch (reply.after) {
      case admin::AdminReply::After::keep_open:
        break;
      case admin::AdminReply::After::close:
        co_return;
      case admin::AdminReply::After::leave:
        logger_.info("admin", "leave requested through the admin endpoint");
        hooks_.request_leave();
        co_return;
    }
  }
}

asio::awaitable<bool> AdminListener::read_exact(asio::ip::tcp::socket& socket,
                                                asio::mutable_buffer buffer,
                                                std::chrono::steady_clock::time_point deadline,
                                                bool& timed_out) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(control_executor_, deadline);
  auto outcome =
      co_await (asio::async_read(socket, buffer, use_nothrow) || timer.async_wait(use_nothrow));
  if (outcome.index() == 1) {
    timed_out = true;
    co_return false;
  }
  auto [error, bytes] = std::get<0>(outcome);
  co_return !error;
}

asio::awaitable<bool> AdminListener::write_all(asio::ip::tcp::socket& socket,
                                               asio::const_buffer buffer) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(control_executor_, options_.write_timeout);
  auto outcome =
      co_await (asio::async_write(socket, buffer, use_nothrow) || timer.async_wait(use_nothrow));
  if (outcome.index() == 1) co_return false;
  auto [error, bytes] = std::get<0>(outcome);
  co_return !error;
}

void AdminListener::connection_finished() {
  if (connections_.empty()) connections_done_.cancel();
}

asio::awaitable<void> AdminListener::stop() {
  accepting_ = false;
  asio::error_code ignored;
  acceptor_.close(ignored);
  // Closing a socket ends its pending read or write; a request on the blocking pool finishes
  // first and its reply write then fails at once.
  for (asio::ip::tcp::socket* socket : connections_)
    socket->close(ignored);
  if (connections_.empty()) co_return;
  connections_done_.expires_after(options_.shutdown_timeout);
  auto [error] = co_await connections_done_.async_wait(use_nothrow);
  if (!error)
    logger_.warn("admin", "{} admin connections did not close in time", connections_.size());
}

}  // namespace qim::net
