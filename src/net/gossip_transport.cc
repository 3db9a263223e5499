#include "net/gossip_transport.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <exception>
#include <utility>

#include "net/prefixed_message.h"

namespace qim::net {

namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);

// Associated data: binds each sealed message to its protocol, kind and version, so a datagram
// can never be replayed as a push-pull state (or to a future, incompatible version).
constexpr std::string_view datagram_label = "qim-gossip/1";
constexpr std::string_view push_pull_label = "qim-push-pull/1";

// With port 0, UDP picks a port and TCP must get the same one; another process may hold it.
constexpr int bind_attempts = 16;
// Receive errors such as ENOBUFS may repeat: back off instead of spinning.
constexpr std::chrono::milliseconds receive_error_backoff{50};

std::span<const std::uint8_t> label_bytes(std::string_view label) {
  return {reinterpret_cast<const std::uint8_t*>(label.data()), label.size()};
}

std::optional<asio::ip::address> parse_ip(std::string_view host) {
  asio::error_code error;
  auto address = asio::ip::make_address(std::string(host), error);
  if (error) return std::nullopt;
  return address;
}

}  // namespace

std::string format_address(const asio::ip::address& address, std::uint16_t port) {
  if (address.is_v6()) return fmt::format("[{}]:{}", address.to_string(), port);
  return fmt::format("{}:{}", address.to_string(), port);
}

GossipTransport::GossipTransport(asio::any_io_executor executor, const auth::ClusterKey& key,
                                 core::Logger& logger, GossipTransportOptions options)
    : executor_(std::move(executor)),
      key_(key),
      logger_(logger),
      options_(options),
      udp_socket_(executor_),
      acceptor_(executor_),
      tasks_done_(executor_) {}

GossipTransport::~GossipTransport() = default;

bool GossipTransport::bind(const HostPort& address, std::string& error) {
  auto ip = parse_ip(address.host);
  if (!ip) {
    error = fmt::format("gossip address '{}' is not an IP address", address.host);
    return false;
  }
  asio::error_code code;
  for (int attempt = 0; attempt < bind_attempts; ++attempt) {
    code.clear();
    udp_socket_.open(ip->is_v6() ? asio::ip::udp::v6() : asio::ip::udp::v4(), code);
    if (!code) udp_socket_.bind(asio::ip::udp::endpoint(*ip, address.port), code);
    std::uint16_t port = 0;
    if (!code) port = udp_socket_.local_endpoint(code).port();
    if (!code) acceptor_.open(ip->is_v6() ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), code);
    if (!code) acceptor_.set_option(asio::socket_base::reuse_address(true), code);
    if (!code) acceptor_.bind(asio::ip::tcp::endpoint(*ip, port), code);
    if (!code) acceptor_.listen(asio::socket_base::max_listen_connections, code);
    if (!code) udp_socket_.non_blocking(true, code);
    if (!code) {
      local_port_ = port;
      local_address_ = format_address(*ip, port);
      return true;
    }
    asio::error_code ignored;
    udp_socket_.close(ignored);
    acceptor_.close(ignored);
    // Only a TCP clash on a port UDP chose for us is worth another try.
    if (address.port != 0 || code != asio::error::address_in_use) break;
  }
  error = fmt::format("cannot listen for gossip on {}: {}", format_address(*ip, address.port),
                      code.message());
  return false;
}

void GossipTransport::start(GossipHandler& handler) {
  handler_ = &handler;
  auto finished = [this](std::exception_ptr exception) {
    if (exception) {
      try {
        std::rethrow_exception(exception);
      } catch (const std::exception& failure) {
        logger_.error("gossip", "gossip task failed: {}", failure.what());
      }
    }
    task_finished();
  };
  running_tasks_ += 2;
  asio::co_spawn(executor_, receive_loop(), finished);
  asio::co_spawn(executor_, accept_loop(), finished);
}

void GossipTransport::task_finished() {
  --running_tasks_;
  if (running_tasks_ == 0) tasks_done_.cancel();
}

asio::awaitable<void> GossipTransport::stop() {
  stopping_ = true;
  asio::error_code ignored;
  udp_socket_.close(ignored);
  acceptor_.close(ignored);
  for (auto* socket : push_pull_sockets_)
    socket->close(ignored);
  while (running_tasks_ > 0 || outbound_push_pulls_ > 0) {
    // Cancelled by the last task; the short bound also covers outbound push-pulls, which the
    // runner awaits and which end as soon as their sockets are closed.
    tasks_done_.expires_after(std::chrono::milliseconds(10));
    co_await tasks_done_.async_wait(use_nothrow);
  }
}

// --- datagrams -------------------------------------------------------------------------------

asio::awaitable<void> GossipTransport::receive_loop() {
  std::vector<std::uint8_t> buffer(options_.max_datagram_bytes);
  asio::steady_timer backoff(executor_);
  while (!stopping_) {
    asio::ip::udp::endpoint sender;
    auto [error, count] =
        co_await udp_socket_.async_receive_from(asio::buffer(buffer), sender, use_nothrow);
    if (stopping_ || error == asio::error::operation_aborted) break;
    if (error) {
      // Connection-refused reports from earlier sends (ICMP) land here too; they are noise.
      if (error != asio::error::connection_refused) {
        logger_.debug("gossip", "receive failed: {}", error.message());
        backoff.expires_after(receive_error_backoff);
        co_await backoff.async_wait(use_nothrow);
      }
      continue;
    }
    ++counters_.datagrams_received;
    auto plaintext = key_.open(std::span(buffer.data(), count), label_bytes(datagram_label));
    std::string from = format_address(sender.address(), sender.port());
    if (!plaintext) {
      ++counters_.datagrams_unsealable;
      logger_.debug("gossip", "dropped a datagram from {} that does not open with the cluster key",
                    from);
      continue;
    }
    handler_->on_gossip_datagram(from, *plaintext);
  }
}

void GossipTransport::send_datagram(std::string_view address,
                                    std::span<const std::uint8_t> plaintext) {
  if (stopping_) return;
  auto host_port = parse_host_port(address);
  std::optional<asio::ip::address> ip;
  if (host_port) ip = parse_ip(host_port->host);
  if (!ip) {
    ++counters_.datagrams_send_failed;
    logger_.debug("gossip", "cannot send to '{}': not an ip:port address", address);
    return;
  }
  auto sealed = key_.seal(plaintext, label_bytes(datagram_label));
  asio::error_code error;
  udp_socket_.send_to(asio::buffer(sealed), asio::ip::udp::endpoint(*ip, host_port->port), 0,
                      error);
  if (error) {
    ++counters_.datagrams_send_failed;
    logger_.debug("gossip", "sending to {} failed: {}", address, error.message());
    return;
  }
  ++counters_.datagrams_sent;
}

// --- push-pull -------------------------------------------------------------------------------

template <typename Exchange>
asio::awaitable<std::optional<std::vector<std::uint8_t>>> GossipTransport::with_deadline(
    asio::ip::tcp::socket& socket, Exchange exchange) {
  using namespace asio::experimental::awaitable_operators;
  push_pull_sockets_.insert(&socket);
  asio::steady_timer deadline(executor_);
  deadline.expires_after(options_.push_pull_timeout);
  auto outcome = co_await (exchange() || deadline.async_wait(use_nothrow));
  push_pull_sockets_.erase(&socket);
  if (outcome.index() == 0) co_return std::get<0>(std::move(outcome));
  co_return std::nullopt;
}

asio::awaitable<void> GossipTransport::accept_loop() {
  asio::steady_timer backoff(executor_);
  while (!stopping_) {
    auto [error, socket] = co_await acceptor_.async_accept(use_nothrow);
    if (stopping_ || !acceptor_.is_open()) break;
    if (error) {
      logger_.warn("gossip", "push-pull accept failed: {}", error.message());
      backoff.expires_after(receive_error_backoff);
      co_await backoff.async_wait(use_nothrow);
      continue;
    }
    if (inbound_push_pulls_ >= options_.max_inbound_push_pulls) {
      ++counters_.push_pulls_refused;
      asio::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++inbound_push_pulls_;
    ++running_tasks_;
    asio::co_spawn(executor_, serve_push_pull(std::move(socket)),
                   [this](std::exception_ptr exception) {
                     if (exception) {
                       try {
                         std::rethrow_exception(exception);
                       } catch (const std::exception& failure) {
                         logger_.error("gossip", "push-pull task failed: {}", failure.what());
                       }
                     }
                     --inbound_push_pulls_;
                     task_finished();
                   });
  }
}

asio::awaitable<void> GossipTransport::serve_push_pull(asio::ip::tcp::socket socket) {
  asio::error_code endpoint_error;
  auto remote = socket.remote_endpoint(endpoint_error);
  std::string from =
      endpoint_error ? std::string("unknown") : format_address(remote.address(), remote.port());
  auto answered = co_await with_deadline(
      socket, [&]() -> asio::awaitable<std::optional<std::vector<std::uint8_t>>> {
        auto sealed = co_await read_prefixed_message(socket, options_.max_push_pull_bytes);
        if (!sealed) co_return std::nullopt;
        auto request = key_.open(*sealed, label_bytes(push_pull_label));
        if (!request || stopping_) co_return std::nullopt;
        auto reply = handler_->on_push_pull_request(from, *request);
        if (!reply) co_return std::nullopt;
        auto sealed_reply = key_.seal(*reply, label_bytes(push_pull_label));
        if (!co_await write_prefixed_message(socket, sealed_reply)) co_return std::nullopt;
        co_return std::move(*reply);
      });
  if (answered) {
    ++counters_.push_pulls_served;
  } else {
    ++counters_.push_pulls_refused;
    logger_.debug("gossip",
                  "push-pull from {} failed (unreachable, too slow, too large, or "
                  "not sealed with our cluster key)",
                  from);
  }
  asio::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

asio::awaitable<std::optional<std::vector<std::uint8_t>>> GossipTransport::push_pull(
    std::string address, std::vector<std::uint8_t> state) {
  if (stopping_ || outbound_push_pulls_ >= options_.max_outbound_push_pulls) {
    ++counters_.push_pulls_failed;
    co_return std::nullopt;
  }
  ++outbound_push_pulls_;
  asio::ip::tcp::socket socket(executor_);
  auto result = co_await with_deadline(
      socket, [&]() -> asio::awaitable<std::optional<std::vector<std::uint8_t>>> {
        auto host_port = parse_host_port(address);
        if (!host_port) co_return std::nullopt;
        asio::ip::tcp::resolver resolver(executor_);
        auto [resolve_error, endpoints] = co_await resolver.async_resolve(
            host_port->host, std::to_string(host_port->port), use_nothrow);
        if (resolve_error || stopping_) co_return std::nullopt;
        auto [connect_error, endpoint] =
            co_await asio::async_connect(socket, endpoints, use_nothrow);
        if (connect_error || stopping_) co_return std::nullopt;
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        auto sealed = key_.seal(state, label_bytes(push_pull_label));
        if (!co_await write_prefixed_message(socket, sealed)) co_return std::nullopt;
        auto sealed_reply = co_await read_prefixed_message(socket, options_.max_push_pull_bytes);
        if (!sealed_reply) co_return std::nullopt;
        co_return key_.open(*sealed_reply, label_bytes(push_pull_label));
      });
  asio::error_code ignored;
  socket.close(ignored);
  --outbound_push_pulls_;
  if (result) {
    ++counters_.push_pulls_completed;
  } else {
    ++counters_.push_pulls_failed;
  }
  if (outbound_push_pulls_ == 0 && running_tasks_ == 0) tasks_done_.cancel();
  co_return result;
}

}  // namespace qim::net
