#include "net/client_listener.h"

#include <asio/experimental/as_tuple.hpp>

#include <exception>
#include <utility>

#include "service/im_service.h"

namespace qim::net {

namespace {
using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
// Accept errors such as EMFILE repeat until something closes: back off instead of spinning.
constexpr std::chrono::milliseconds accept_error_backoff{100};
constexpr std::chrono::milliseconds shutdown_poll_interval{10};
}  // namespace

ClientListener::ClientListener(asio::any_io_executor control_executor, IoPool& pool,
                               service::ImService& service, core::Logger& logger,
                               ListenerOptions options)
    : control_executor_(std::move(control_executor)),
      pool_(pool),
      service_(service),
      logger_(logger),
      options_(std::move(options)),
      acceptor_(control_executor_) {
  shards_.reserve(pool_.size());
  for (std::size_t index = 0; index < pool_.size(); ++index) {
    shards_.push_back(std::make_unique<Shard>(pool_.context(index)));
  }
}

ClientListener::~ClientListener() = default;

bool ClientListener::listen(const asio::ip::tcp::endpoint& endpoint, std::string& error) {
  asio::error_code code;
  acceptor_.open(endpoint.protocol(), code);
  if (!code) acceptor_.set_option(asio::socket_base::reuse_address(true), code);
  if (!code) acceptor_.bind(endpoint, code);
  if (!code) acceptor_.listen(asio::socket_base::max_listen_connections, code);
  if (!code) local_endpoint_ = acceptor_.local_endpoint(code);
  if (code) {
    error = fmt::format("cannot listen on {}:{}: {}", endpoint.address().to_string(),
                        endpoint.port(), code.message());
    asio::error_code ignored;
    acceptor_.close(ignored);
    return false;
  }
  return true;
}

void ClientListener::start() {
  accepting_ = true;
  asio::co_spawn(control_executor_, accept_loop(), [this](std::exception_ptr exception) {
    if (!exception) return;
    try {
      std::rethrow_exception(exception);
    } catch (const std::exception& error) {
      logger_.error("net", "accept loop failed: {}", error.what());
    }
  });
}

asio::awaitable<void> ClientListener::accept_loop() {
  asio::steady_timer backoff(control_executor_);
  while (accepting_) {
    Shard& shard = *shards_[next_shard_];
    auto [error, socket] = co_await acceptor_.async_accept(shard.context, use_nothrow);
    if (!accepting_ || !acceptor_.is_open()) break;
    if (error) {
      logger_.warn("net", "accept failed: {}", error.message());
      backoff.expires_after(accept_error_backoff);
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    next_shard_ = (next_shard_ + 1) % shards_.size();
    asio::error_code ignored;
    socket.set_option(asio::ip::tcp::no_delay(true), ignored);

    bool reject = live_connections_.load() >= options_.max_connections;
    if (reject) {
      if (rejecting_connections_.load() >= options_.max_rejecting_connections) {
        socket.close(ignored);
        continue;
      }
      rejecting_connections_.fetch_add(1);
    } else {
      live_connections_.fetch_add(1);
    }
    // The task ends when the connection closes; stop() closes every connection, so nothing
    // outlives shutdown. The completion handler only touches the counters.
    asio::co_spawn(shard.context, serve(shard, std::move(socket), reject),
                   [this, reject](std::exception_ptr exception) {
                     if (exception) {
                       try {
                         std::rethrow_exception(exception);
                       } catch (const std::exception& error) {
                         logger_.error("net", "connection task failed: {}", error.what());
                       }
                     }
                     (reject ? rejecting_connections_ : live_connections_).fetch_sub(1);
                   });
  }
}

asio::awaitable<void> ClientListener::serve(Shard& shard, asio::ip::tcp::socket socket,
                                            bool reject) {
  ClientConnection connection(std::move(socket), service_, pool_.blocking_pool(), logger_,
                              options_.connection);
  shard.connections.insert(&connection);
  logger_.debug("net", "connection from {} opened ({} open)", connection.remote_host(),
                live_connections_.load());
  std::optional<Error> rejection;
  if (reject) {
    logger_.warn("net", "refusing {}: {} connections is the limit", connection.remote_host(),
                 options_.max_connections);
    rejection = Error{errc::too_many_connections,
                      fmt::format("this node is at its limit of {} connections; retry later",
                                  options_.max_connections)};
  }
  try {
    co_await connection.run(std::move(rejection));
  } catch (...) {
    shard.connections.erase(&connection);
    throw;
  }
  shard.connections.erase(&connection);
  logger_.debug("net", "connection from {} closed", connection.remote_host());
}

template <typename Visit>
asio::awaitable<void> ClientListener::for_each_connection(Visit visit) {
  for (auto& shard : shards_) {
    co_await asio::co_spawn(
        shard->context,
        [&shard = *shard, &visit]() -> asio::awaitable<void> {
          // Copy: a visit may end a connection's run() and so erase it from the set.
          std::vector<ClientConnection*> connections(shard.connections.begin(),
                                                     shard.connections.end());
          for (ClientConnection* connection : connections)
            visit(*connection);
          co_return;
        },
        asio::use_awaitable);
  }
}

asio::awaitable<bool> ClientListener::wait_for_connections(std::chrono::milliseconds timeout) {
  asio::steady_timer timer(control_executor_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (live_connections_.load() + rejecting_connections_.load() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(shutdown_poll_interval);
    co_await timer.async_wait(use_nothrow);
  }
  co_return true;
}

asio::awaitable<void> ClientListener::stop() {
  accepting_ = false;
  asio::error_code ignored;
  acceptor_.close(ignored);

  // Sessions first (the service knows them), then whatever has no session registered.
  service_.close_all_sessions(errc::shutting_down, "node is shutting down");
  co_await for_each_connection([](ClientConnection& connection) {
    connection.close_with_error(errc::shutting_down, "node is shutting down");
  });
  if (co_await wait_for_connections(options_.shutdown_timeout)) co_return;

  logger_.warn("net", "{} connections did not close within {} ms; closing them hard",
               live_connections_.load() + rejecting_connections_.load(),
               options_.shutdown_timeout.count());
  co_await for_each_connection([](ClientConnection& connection) { connection.abort(); });
  if (!co_await wait_for_connections(options_.shutdown_timeout)) {
    logger_.error("net", "{} connections are still open; abandoning them",
                  live_connections_.load() + rejecting_connections_.load());
  }
}

}  // namespace qim::net
