#include "client/async_connection.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/core.h>

namespace qim::client {
namespace {

// Frames queued for writing are coalesced into one socket write up to about this size.
constexpr std::size_t max_write_batch_bytes = 256 * 1024;
// How long a failed write waits for the reader to find why the connection ended.
constexpr std::chrono::milliseconds write_failure_grace{200};

// Why a read failed, in words.
Error connection_error(const std::error_code& ec) {
  // stream_truncated: a TLS peer that closed without close_notify, i.e. it went away.
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
    return {errc::unavailable, "the server closed the connection"};
  if (ec.category() == asio::error::get_ssl_category()) {
    // In TLS 1.3 the server judges the client's certificate after the client has finished
    // its handshake: its verdict arrives as an alert on the first read.
    switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return {errc::auth_failed,
                "the server requires a client certificate (give one with its key)"};
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      case SSL_R_TLSV1_ALERT_DECRYPT_ERROR:
        return {errc::auth_failed,
                fmt::format("the server refused this client's certificate: {}", ec.message())};
      default:
        break;
    }
  }
  return {errc::unavailable, fmt::format("connection error: {}", ec.message())};
}

}  // namespace

Error error_from_frame(const Frame& frame) {
  const auto* error = frame.envelope->body_as_Error();
  if (error == nullptr) return {errc::internal, "expected an Error frame"};
  errc code = proto::from_wire(error->code());
  // A server that sends Error{None} still failed the request; keep it an error.
  if (code == errc::ok) code = errc::internal;
  return {code, std::string(proto::view(error->message()))};
}

Message message_from_wire(const wire::Message& message) {
  Message out;
  out.conversation = proto::view(message.conversation());
  out.seq = message.seq();
  out.sender = proto::view(message.sender());
  out.sender_device = proto::view(message.sender_device());
  out.client_msg_id = message.client_msg_id();
  out.server_time_ms = message.server_time_ms();
  auto body = proto::view(message.body());
  out.body.assign(reinterpret_cast<const char*>(body.data()), body.size());
  return out;
}

AsyncConnection::AsyncConnection(asio::any_io_executor executor, ConnectionOptions options)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      socket_(executor_),
      write_wake_(executor_, asio::steady_timer::time_point::max()),
      heartbeat_timer_(executor_) {}

AsyncConnection::~AsyncConnection() = default;

std::uint32_t AsyncConnection::next_req_id() {
  // Non-zero (0 marks pushes) and not in flight, wrapping after 2^32 - 1 requests.
  do {
    ++last_req_id_;
  } while (last_req_id_ == 0 || pending_.contains(last_req_id_));
  return last_req_id_;
}

asio::awaitable<Result<ServerInfo>> AsyncConnection::open(const std::string& host,
                                                          std::uint16_t port) {
  auto self = shared_from_this();
  host_ = host;
  port_ = port;
  if (closed_ || open_) co_return Error{errc::invalid_argument, "connection already used"};

  std::error_code ec;
  asio::ip::tcp::resolver resolver(executor_);
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    closed_ = true;
    co_return Error{errc::unavailable, fmt::format("cannot resolve {}: {}", host, ec.message())};
  }

  // The deadline closes the socket, which aborts the connect. Its handler may run after this
  // coroutine moved on, so the flags it shares live on the heap.
  struct ConnectState {
    bool done = false;
    bool timed_out = false;
  };
  auto state = std::make_shared<ConnectState>();
  asio::steady_timer deadline(executor_, options_.connect_timeout);
  deadline.async_wait([this, self, state](std::error_code wait_error) {
    if (wait_error || state->done) return;
    state->timed_out = true;
    std::error_code ignored;
    socket_.close(ignored);
  });
  co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  state->done = true;
  deadline.cancel();
  if (ec || state->timed_out) {
    closed_ = true;
    std::error_code ignored;
    socket_.close(ignored);
    co_return Error{errc::unavailable,
                    state->timed_out
                        ? fmt::format("timed out connecting to {}:{}", host, port)
                        : fmt::format("cannot connect to {}:{}: {}", host, port, ec.message())};
  }
  if (closed_) {
    // close() ran while the connect was in flight (the owner is shutting down).
    co_return Error{errc::unavailable, "connection closed while connecting"};
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (options_.tls) {
    if (Error failure = co_await handshake(host, port)) {
      closed_ = true;
      std::error_code ignored;
      socket_.close(ignored);
      co_return failure;
    }
  }
  open_ = true;
  asio::co_spawn(executor_, reader(), asio::detached);
  asio::co_spawn(executor_, writer(), asio::detached);

  std::string client_name = options_.client_name;
  FrameWriter hello = [client_name](proto::FrameBuilder& builder, std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto name = fbb.CreateString(client_name);
    return builder.finish(req_id, wire::CreateHello(fbb, proto::protocol_version, name));
  };
  auto reply = co_await request(hello, options_.hello_timeout);
  if (!reply) {
    Error error = reply.error();
    if (is_open()) {
      // Connected, but nothing answered: a paused or overloaded node.
      error.message = fmt::format(
          "{}:{} accepted the connection but did not answer Hello within "
          "{} ms",
          host, port, options_.hello_timeout.count());
      close(error, /*quiet=*/true);
    }
    co_return error;
  }
  const Frame& frame = reply.value();
  if (frame.envelope->body_type() == wire::Body::Error) {
    Error error = error_from_frame(frame);
    close(error, /*quiet=*/true);
    co_return error;
  }
  const auto* hello_ok = frame.envelope->body_as_HelloOk();
  if (hello_ok == nullptr) {
    Error error{errc::unexpected_message, "the server did not answer Hello with HelloOk"};
    close(error, /*quiet=*/true);
    co_return error;
  }
  server_.protocol_version = hello_ok->protocol_version();
  server_.server_version = proto::view(hello_ok->server_version());
  server_.node = proto::view(hello_ok->node());
  server_.max_frame_bytes = hello_ok->max_frame_bytes();
  server_.max_body_bytes = hello_ok->max_body_bytes();
  server_.server_time_ms = hello_ok->server_time_ms();
  server_.cluster_nodes.clear();
  if (hello_ok->cluster_nodes() != nullptr) {
    for (const auto* address : *hello_ok->cluster_nodes()) {
      if (server_.cluster_nodes.size() >= 64) break;
      server_.cluster_nodes.emplace_back(proto::view(address));
    }
  }
  if (options_.heartbeats) {
    heartbeat_.interval = qim::client::heartbeat_interval(
        options_.heartbeat_interval, std::chrono::milliseconds(hello_ok->heartbeat_interval_ms()),
        options_.heartbeat_fallback);
    heartbeat_.pong_timeout = options_.pong_timeout;
    asio::co_spawn(executor_, heartbeats(), asio::detached);
  }
  co_return server_;
}

bool AsyncConnection::enqueue(std::span<const std::uint8_t> frame) {
  if (outbound_.size() >= options_.max_outbound_frames) return false;
  outbound_.emplace_back(frame.begin(), frame.end());
  last_send_time_ = std::chrono::steady_clock::now();
  write_wake_.cancel();
  return true;
}

asio::awaitable<Result<Frame>> AsyncConnection::request(const FrameWriter& writer,
                                                        std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  if (!open_ || closed_) co_return Error{errc::unavailable, "not connected"};
  if (pending_.size() >= options_.max_pending_requests) {
    co_return Error{errc::limit_exceeded,
                    fmt::format("{} requests already in flight", pending_.size())};
  }
  std::uint32_t req_id = next_req_id();
  builder_.reset();
  if (!enqueue(writer(builder_, req_id))) {
    co_return Error{errc::limit_exceeded, "the outbound queue is full"};
  }
  asio::steady_timer wake(executor_, timeout);
  Pending pending{&wake, std::nullopt};
  pending_.emplace(req_id, &pending);
  std::error_code ec;
  co_await wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (auto it = pending_.find(req_id); it != pending_.end() && it->second == &pending) {
    pending_.erase(it);
  }
  if (pending.result) co_return std::move(*pending.result);
  co_return Error{errc::unavailable,
                  fmt::format("timed out after {} ms waiting for the server", timeout.count())};
}

asio::awaitable<Error> AsyncConnection::handshake(const std::string& host, std::uint16_t port) {
  auto self = shared_from_this();
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *options_.tls);
  std::error_code ec;
  asio::ip::make_address(host, ec);
  // SNI for a name (never for an address), and the name or address the certificate must hold.
  if (ec) SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str());
  if (options_.verify_host) tls_->set_verify_callback(asio::ssl::host_name_verification(host));
  // As in open(): the handler may run after this coroutine moved on.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer deadline(executor_, options_.connect_timeout);
  deadline.async_wait([this, self, timed_out](std::error_code wait_error) {
    if (wait_error) return;
    *timed_out = true;
    std::error_code ignored;
    socket_.close(ignored);
  });
  ec.clear();
  co_await tls_->async_handshake(asio::ssl::stream_base::client,
                                 asio::redirect_error(asio::use_awaitable, ec));
  deadline.cancel();
  if (*timed_out) {
    co_return Error{errc::unavailable,
                    fmt::format("timed out in the TLS handshake with {}:{}", host, port)};
  }
  if (!ec) co_return check_pin(host, port);
  // Neither an untrusted certificate nor a port without TLS goes away by retrying: they get
  // codes of their own, which callers do not retry.
  errc code = errc::unavailable;
  std::string why = ec.message();
  long verify_result = SSL_get_verify_result(tls_->native_handle());
  if (verify_result != X509_V_OK) {
    code = errc::auth_failed;
    why = fmt::format("the server's certificate is not trusted: {}",
                      X509_verify_cert_error_string(verify_result));
  } else if (ec.category() == asio::error::get_ssl_category() &&
             ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_WRONG_VERSION_NUMBER) {
    code = errc::unsupported_version;
    why = "the server does not speak TLS on this port";
  } else if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
    why = "the server closed the connection (does it speak TLS 1.3 on this port?)";
  }
  co_return Error{code, fmt::format("TLS handshake with {}:{} failed: {}", host, port, why)};
}

Error AsyncConnection::check_pin(const std::string& host, std::uint16_t port) {
  if (!options_.pins) return Error{};
  return options_.pins->check(pin_address(host, port), peer_key_fingerprint(tls_->native_handle()));
}

asio::awaitable<void> AsyncConnection::read_exactly(asio::mutable_buffer buffer,
                                                    std::error_code& ec) {
  if (tls_) {
    co_await asio::async_read(*tls_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_read(socket_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> AsyncConnection::write_all(asio::const_buffer buffer, std::error_code& ec) {
  if (tls_) {
    co_await asio::async_write(*tls_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, buffer, asio::redirect_error(asio::use_awaitable, ec));
  }
}

asio::awaitable<void> AsyncConnection::reader() {
  auto self = shared_from_this();
  Error pushed_error;  // an Error push announces why the server is about to close
  std::uint8_t header[proto::frame_header_bytes];
  for (;;) {
    std::error_code ec;
    co_await read_exactly(asio::buffer(header), ec);
    std::uint32_t length = 0;
    Frame frame;
    if (!ec) {
      length = proto::decode_frame_length(header);
      if (length > options_.max_frame_bytes) {
        close({errc::frame_too_large, fmt::format("the server sent a frame of {} bytes (limit {})",
                                                  length, options_.max_frame_bytes)});
        co_return;
      }
      frame.storage.resize((length + 7) / 8);
      co_await read_exactly(asio::buffer(frame.storage.data(), length), ec);
    }
    if (ec) {
      close(pushed_error ? pushed_error : connection_error(ec));
      co_return;
    }
    last_receive_time_ = std::chrono::steady_clock::now();  // any frame is a sign of life
    Error error;
    frame.envelope = proto::verify_envelope(
        {reinterpret_cast<const std::uint8_t*>(frame.storage.data()), length}, error);
    if (frame.envelope == nullptr) {
      close({errc::malformed, fmt::format("bad frame from the server: {}", error.message)});
      co_return;
    }
    std::uint32_t req_id = frame.envelope->req_id();
    if (req_id == 0) {
      if (frame.envelope->body_type() == wire::Body::Error) {
        pushed_error = error_from_frame(frame);
      } else if (push_handler_) {
        push_handler_(std::move(frame));
      }
      continue;
    }
    auto it = pending_.find(req_id);
    if (it == pending_.end()) continue;  // the answer to a request that already timed out
    if (reply_observer_) reply_observer_(frame);
    it->second->result.emplace(std::move(frame));
    it->second->wake->cancel();
    pending_.erase(it);
  }
}

asio::awaitable<void> AsyncConnection::writer() {
  auto self = shared_from_this();
  std::vector<std::uint8_t> batch;
  while (!closed_) {
    if (outbound_.empty()) {
      std::error_code ignored;
      co_await write_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      continue;
    }
    batch.clear();
    while (!outbound_.empty() && batch.size() < max_write_batch_bytes) {
      auto& frame = outbound_.front();
      batch.insert(batch.end(), frame.begin(), frame.end());
      outbound_.pop_front();
    }
    std::error_code ec;
    co_await write_all(asio::buffer(batch), ec);
    if (ec) {
      // The server's last word may still wait to be read (a TLS alert that refuses this
      // client's certificate, sent just before it closed): the reader reports that, and so
      // closes first, if it comes within a moment; only then is the write's failure the reason.
      // close() cancels write_wake_, so the wait ends as soon as the reader has closed.
      auto deadline = std::chrono::steady_clock::now() + write_failure_grace;
      write_wake_.expires_at(deadline);
      while (!closed_ && std::chrono::steady_clock::now() < deadline) {
        std::error_code ignored;
        co_await write_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      close({errc::unavailable, fmt::format("write failed: {}", ec.message())});
      co_return;
    }
  }
}

asio::awaitable<void> AsyncConnection::heartbeats() {
  auto self = shared_from_this();
  HeartbeatMonitor monitor(heartbeat_, std::chrono::steady_clock::now());
  while (!closed_) {
    heartbeat_timer_.expires_at(monitor.next_check());
    std::error_code ignored;
    co_await heartbeat_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (closed_) co_return;
    monitor.on_receive(last_receive_time_);
    monitor.on_send(last_send_time_);
    switch (monitor.tick(std::chrono::steady_clock::now())) {
      case HeartbeatMonitor::Action::none:
        break;
      case HeartbeatMonitor::Action::ping: {
        // Not awaited as a request: any frame that comes back counts, and a Pong whose
        // req_id nobody waits for is simply dropped by the reader.
        builder_.reset();
        auto& fbb = builder_.fbb();
        auto frame = builder_.finish(next_req_id(), wire::CreatePing(fbb, ++ping_nonce_));
        if (!enqueue(frame)) {
          close({errc::slow_consumer, "the outbound queue is full; cannot send a heartbeat"});
          co_return;
        }
        break;
      }
      case HeartbeatMonitor::Action::dead:
        went_silent_ = true;
        close({errc::unavailable,
               fmt::format("the server stopped answering (no Pong in {:g} s)",
                           static_cast<double>(heartbeat_.pong_timeout.count()) / 1000.0)});
        co_return;
    }
  }
}

void AsyncConnection::close(const Error& reason, bool quiet) {
  if (closed_) return;
  closed_ = true;
  open_ = false;
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  write_wake_.cancel();
  heartbeat_timer_.cancel();
  outbound_.clear();
  Error failure = reason;
  if (!failure) failure = {errc::unavailable, "connection closed"};
  for (auto& [req_id, pending] : pending_) {
    pending->result.emplace(failure);
    pending->wake->cancel();
  }
  pending_.clear();
  if (!quiet && close_handler_) {
    auto handler = std::move(close_handler_);
    close_handler_ = nullptr;
    handler(failure);
  }
}

}  // namespace qim::client
