#include "net/client_listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <asio/experimental/as_tuple.hpp>

#include <cerrno>
#include <exception>
#include <optional>
#include <system_error>
#include <utility>

#include "service/im_service.h"

namespace qim::net {

namespace {
using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
// Accept errors such as EMFILE repeat until something closes: back off instead of spinning.
constexpr std::chrono::milliseconds accept_error_backoff{100};
constexpr std::chrono::milliseconds shutdown_poll_interval{10};
// Connections accepted in a row before the accept loop yields to other work.
constexpr std::size_t accept_batch = 64;
}  // namespace

ClientListener::ClientListener(asio::any_io_executor control_executor, IoPool& pool,
                               service::ImService& service, core::Logger& logger,
                               ListenerOptions options)
    : control_executor_(std::move(control_executor)),
      pool_(pool),
      service_(service),
      logger_(logger),
      options_(std::move(options)) {
  shards_.reserve(pool_.size());
  for (std::size_t index = 0; index < pool_.size(); ++index) {
    asio::io_context& context = pool_.context(index);
    shards_.push_back(&asio::make_service<ConnectionShard>(
        context, context, service_, pool_.blocking_pool(), logger_, options_.connection));
  }
}

ClientListener::~ClientListener() = default;

std::size_t ClientListener::connection_count() const {
  std::size_t count = 0;
  for (const ConnectionShard* shard : shards_)
    count += shard->live_connections();
  return count;
}

std::size_t ClientListener::connection_count(ClientTransport transport) const {
  std::size_t count = 0;
  for (const ConnectionShard* shard : shards_)
    count += shard->live_connections(transport);
  return count;
}

ClientTraffic ClientListener::traffic() const {
  ClientTraffic sum;
  for (const ConnectionShard* shard : shards_)
    shard->counters().add_to(sum);
  return sum;
}

std::size_t ClientListener::rejecting_count() const {
  std::size_t count = 0;
  for (const ConnectionShard* shard : shards_)
    count += shard->rejecting_connections();
  return count;
}

bool ClientListener::listen(const asio::ip::tcp::endpoint& endpoint, bool tls, std::string& error,
                            bool websocket) {
  asio::ip::tcp::acceptor acceptor(control_executor_);
  asio::ip::tcp::endpoint local_endpoint;
  asio::error_code code;
  acceptor.open(endpoint.protocol(), code);
  if (!code) acceptor.set_option(asio::socket_base::reuse_address(true), code);
  if (!code) acceptor.bind(endpoint, code);
  if (!code) acceptor.listen(asio::socket_base::max_listen_connections, code);
  // accept4() below takes the sockets: they never become Asio sockets.
  if (!code) acceptor.non_blocking(true, code);
  if (!code) local_endpoint = acceptor.local_endpoint(code);
  if (code) {
    error = fmt::format("cannot listen on {}:{}: {}", endpoint.address().to_string(),
                        endpoint.port(), code.message());
    return false;
  }
  ClientTransport transport = !websocket ? ClientTransport::native
                              : tls      ? ClientTransport::wss
                                         : ClientTransport::ws;
  ports_.push_back(Port{std::move(acceptor), local_endpoint, tls, transport});
  return true;
}

void ClientListener::start() {
  accepting_ = true;
  for (Port& port : ports_) {
    asio::co_spawn(control_executor_, accept_loop(port), [this](std::exception_ptr exception) {
      if (!exception) return;
      try {
        std::rethrow_exception(exception);
      } catch (const std::exception& error) {
        logger_.error("net", "accept loop failed: {}", error.what());
      }
    });
  }
}

asio::awaitable<void> ClientListener::accept_loop(Port& port) {
  asio::ip::tcp::acceptor& acceptor = port.acceptor;
  asio::steady_timer backoff(control_executor_);
  std::size_t accepted_in_a_row = 0;
  while (accepting_ && acceptor.is_open()) {
    asio::ip::tcp::endpoint peer;
    auto length = static_cast<socklen_t>(peer.capacity());
    int fd =
        ::accept4(acceptor.native_handle(), peer.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int error = errno;
      accepted_in_a_row = 0;
      if (error == EAGAIN || error == EWOULDBLOCK) {
        co_await acceptor.async_wait(asio::ip::tcp::acceptor::wait_read, use_nothrow);
        continue;
      }
      if (error == EINTR || error == ECONNABORTED) continue;
      if (!accepting_ || !acceptor.is_open()) break;
      logger_.warn("net", "accept failed: {}",
                   std::error_code(error, std::system_category()).message());
      backoff.expires_after(accept_error_backoff);
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    peer.resize(length);
    hand_over(fd, peer, port);
    // Let the control thread's other work run during a connection flood.
    if (++accepted_in_a_row % accept_batch == 0) {
      co_await asio::post(control_executor_, asio::use_awaitable);
    }
  }
}

void ClientListener::hand_over(int fd, const asio::ip::tcp::endpoint& peer, const Port& port) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string remote_host = peer.address().to_string();
  std::optional<Error> rejection;
  if (connection_count() >= options_.max_connections) {
    if (rejecting_count() >= options_.max_rejecting_connections) {
      ::close(fd);
      return;
    }
    logger_.warn("net", "refusing {}: {} connections is the limit", remote_host,
                 options_.max_connections);
    rejection = Error{errc::too_many_connections,
                      fmt::format("this node is at its limit of {} connections; retry later",
                                  options_.max_connections)};
  }
  ConnectionShard& shard = *shards_[next_shard_];
  next_shard_ = (next_shard_ + 1) % shards_.size();
  shard.hand_over(fd, std::move(remote_host), std::move(rejection),
                  port.tls ? tls_ : std::shared_ptr<const TlsContext>(), port.transport);
}

template <typename Visit>
asio::awaitable<void> ClientListener::for_each_connection(Visit visit) {
  for (ConnectionShard* shard : shards_) {
    co_await asio::co_spawn(
        shard->context(),
        [shard, &visit]() -> asio::awaitable<void> {
          shard->for_each(visit);
          co_return;
        },
        asio::use_awaitable);
  }
}

asio::awaitable<bool> ClientListener::wait_for_connections(std::chrono::milliseconds timeout) {
  asio::steady_timer timer(control_executor_);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (connection_count() + rejecting_count() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(shutdown_poll_interval);
    co_await timer.async_wait(use_nothrow);
  }
  co_return true;
}

asio::awaitable<void> ClientListener::stop() {
  accepting_ = false;
  for (Port& port : ports_) {
    asio::error_code ignored;
    port.acceptor.close(ignored);
  }

  for (ConnectionShard* shard : shards_)
    shard->begin_shutdown();
  // Sessions first (the service knows them), then whatever has no session registered.
  service_.close_all_sessions(errc::shutting_down, "node is shutting down");
  co_await for_each_connection([](ClientConnection& connection) {
    connection.close_with_error(errc::shutting_down, "node is shutting down");
  });
  if (co_await wait_for_connections(options_.shutdown_timeout)) co_return;

  logger_.warn("net", "{} connections did not close within {} ms; closing them hard",
               connection_count() + rejecting_count(), options_.shutdown_timeout.count());
  co_await for_each_connection([](ClientConnection& connection) { connection.abort(); });
  if (!co_await wait_for_connections(options_.shutdown_timeout)) {
    logger_.error("net", "{} connections are still open; abandoning them",
                  connection_count() + rejecting_count());
  }
}

}  // namespace qim::net
