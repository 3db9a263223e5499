#include "qim-bench/bench_connection.h"

#include <algorithm>
#include <cstring>

#include <fmt/core.h>

namespace qim::bench {
namespace {

constexpr std::size_t write_batch_bytes_max = 1024 * 1024;
constexpr std::size_t min_read_bytes = 512;

// Closes `socket` if `timeout` passes before the returned guard is destroyed. The timer
// handler only touches the socket while the guard's generation is current.
class Deadline {
 public:
  Deadline(asio::io_context& io, asio::ip::tcp::socket& socket, std::chrono::milliseconds timeout)
      : timer_(io, timeout), state_(std::make_shared<State>()) {
    timer_.async_wait([&socket, state = state_](std::error_code error) {
      if (error || state->done) return;
      state->expired = true;
      std::error_code ignored;
      socket.close(ignored);
    });
  }
  ~Deadline() {
    state_->done = true;
    timer_.cancel();
  }
  bool expired() const { return state_->expired; }

 private:
  struct State {
    bool done = false;
    bool expired = false;
  };
  asio::steady_timer timer_;
  std::shared_ptr<State> state_;
};

Error unavailable(std::string message) {
  return Error{errc::unavailable, std::move(message)};
}

}  // namespace

void Outbox::flush() {
  // A flush can mark connections again (a partial write does not), so iterate over a copy.
  flushing_.swap(dirty_);
  for (BenchConnection* connection : flushing_)
    connection->flush();
  flushing_.clear();
}

BenchConnection::BenchConnection(asio::io_context& io, Outbox& outbox, std::uint32_t index,
                                 std::size_t read_buffer_bytes)
    : io_(io),
      outbox_(outbox),
      index_(index),
      socket_(io),
      input_((std::max<std::size_t>(read_buffer_bytes, 64) + 7) / 8) {}

asio::awaitable<Error> BenchConnection::open(const Endpoint& endpoint, const Options& options) {
  const std::chrono::milliseconds connect_timeout = options.connect_timeout;
  const std::chrono::milliseconds request_timeout = options.request_timeout;
  close();
  tls_.reset();
  // No keep-alive Ping until Hello is answered: it would cut into the TLS handshake (a write
  // under way alongside it) or precede Hello.
  opening_ = true;
  struct EndOpen {
    bool& opening;
    ~EndOpen() { opening = false; }
  } end_open{opening_};
  endpoint_ = endpoint;
  failed_ = false;
  input_begin_ = input_end_ = 0;
  outbound_.clear();
  std::error_code error;
  asio::ip::tcp::resolver resolver(io_);
  // Named: g++ 12 destroys temporaries of a co_await expression twice.
  std::string port = std::to_string(endpoint.port);
  auto endpoints = co_await resolver.async_resolve(
      endpoint.host, port, asio::redirect_error(asio::use_awaitable, error));
  if (error) {
    co_return unavailable(fmt::format("cannot resolve {}: {}", endpoint.host, error.message()));
  }
  {
    Deadline deadline(io_, socket_, connect_timeout);
    co_await asio::async_connect(socket_, endpoints,
                                 asio::redirect_error(asio::use_awaitable, error));
    if (deadline.expired()) {
      co_return unavailable(fmt::format("timed out connecting to {}:{} after {} ms", endpoint.host,
                                        endpoint.port, connect_timeout.count()));
    }
  }
  if (error) {
    close();
    co_return unavailable(
        fmt::format("cannot connect to {}:{}: {}", endpoint.host, endpoint.port, error.message()));
  }
  socket_.set_option(asio::ip::tcp::no_delay(true), error);
  if (options.tls_context) {
    if (Error failure =
            co_await handshake(endpoint, *options.tls_context, options.verify, connect_timeout)) {
      close();
      co_return failure;
    }
  }
  socket_.non_blocking(true, error);

  std::uint32_t req_id = next_req_id();
  builder_.reset();
  auto& fbb = builder_.fbb();
  auto name = fbb.CreateString("qim-bench");
  auto frame = builder_.finish(req_id, wire::CreateHello(fbb, proto::protocol_version, name));
  const wire::Envelope* reply = nullptr;
  if (Error call_error = co_await call(frame, req_id, request_timeout, reply)) co_return call_error;
  if (reply->body_type() != wire::Body::HelloOk) {
    close();
    co_return Error{errc::unexpected_message, fmt::format("expected HelloOk, got {}",
                                                          wire::EnumNameBody(reply->body_type()))};
  }
  if (std::uint32_t advertised = reply->body_as_HelloOk()->heartbeat_interval_ms()) {
    heartbeat_interval_ = std::chrono::milliseconds(advertised);
  }
  co_return Error{};
}

asio::awaitable<Error> BenchConnection::call(std::span<const std::uint8_t> frame,
                                             std::uint32_t req_id,
                                             std::chrono::milliseconds timeout,
                                             const wire::Envelope*& reply) {
  if (!is_open()) co_return unavailable("not connected");
  calling_ = true;
  struct EndCall {
    bool& calling;
    ~EndCall() { calling = false; }
  } end_call{calling_};
  last_sent_ = std::chrono::steady_clock::now();
  Deadline deadline(io_, socket_, timeout);
  std::error_code error;
  co_await write_all(asio::buffer(frame.data(), frame.size()), error);
  for (;;) {
    if (error) break;
    const wire::Envelope* envelope = nullptr;
    Error read_error = co_await read_frame(envelope);
    if (read_error) {
      if (deadline.expired()) break;
      co_return read_error;
    }
    if (envelope->req_id() == req_id) {
      reply = envelope;
      co_return Error{};
    }
    if (envelope->req_id() == 0 && envelope->body_type() == wire::Body::Error) {
      const auto* pushed = envelope->body_as_Error();
      Error reason{proto::from_wire(pushed->code()), std::string(proto::view(pushed->message()))};
      close();
      co_return reason;
    }
  }
  close();
  if (deadline.expired()) {
    co_return unavailable(fmt::format("no reply from {}:{} within {} ms", endpoint_.host,
                                      endpoint_.port, timeout.count()));
  }
  co_return unavailable(fmt::format("connection to {}:{} failed: {}", endpoint_.host,
                                    endpoint_.port, error.message()));
}

void BenchConnection::reserve_input(std::size_t bytes) {
  std::size_t capacity = input_.size() * 8;
  if (input_end_ + bytes <= capacity) return;
  std::size_t unread = input_end_ - input_begin_;
  auto* base = reinterpret_cast<std::uint8_t*>(input_.data());
  if (input_begin_ > 0) {
    std::memmove(base, base + input_begin_, unread);
    input_begin_ = 0;
    input_end_ = unread;
  }
  if (input_end_ + bytes > capacity) {
    input_.resize((input_end_ + bytes + 7) / 8);
  }
}

void BenchConnection::prepare_read() {
  // Room for the rest of a partly read frame, and at least min_read_bytes: small (idle)
  // buffers stay small, busy ones read many frames per syscall.
  std::size_t unread = input_end_ - input_begin_;
  std::size_t want = min_read_bytes;
  if (unread >= proto::frame_header_bytes) {
    const auto* base = reinterpret_cast<const std::uint8_t*>(input_.data());
    std::size_t frame_bytes =
        proto::frame_header_bytes + proto::decode_frame_length(base + input_begin_);
    if (frame_bytes > unread) want = std::max(want, frame_bytes - unread);
  }
  reserve_input(want);
}

const wire::Envelope* BenchConnection::next_buffered_frame(Error& error) {
  std::size_t unread = input_end_ - input_begin_;
  if (unread < proto::frame_header_bytes) return nullptr;
  const auto* base = reinterpret_cast<const std::uint8_t*>(input_.data());
  std::uint32_t length = proto::decode_frame_length(base + input_begin_);
  if (length > max_frame_bytes || length == 0) {
    error = Error{
        errc::frame_too_large,
        fmt::format("the server sent a frame of {} bytes (limit {})", length, max_frame_bytes)};
    return nullptr;
  }
  if (unread < proto::frame_header_bytes + length) return nullptr;
  const std::uint8_t* payload = base + input_begin_ + proto::frame_header_bytes;
  input_begin_ += proto::frame_header_bytes + length;
  if (input_begin_ == input_end_) input_begin_ = input_end_ = 0;
  if (reinterpret_cast<std::uintptr_t>(payload) % 8 != 0) {
    // FlatBuffers reads scalars in place; move the payload to an aligned address. The bytes
    // stay readable: a consumed region is only overwritten by the next read.
    if (aligned_.size() * 8 < length) aligned_.resize((length + 7) / 8);
    std::memcpy(aligned_.data(), payload, length);
    payload = reinterpret_cast<const std::uint8_t*>(aligned_.data());
  }
  const wire::Envelope* envelope = proto::verify_envelope({payload, length}, error);
  return envelope;
}

asio::awaitable<Error> BenchConnection::read_frame(const wire::Envelope*& envelope) {
  for (;;) {
    Error error;
    envelope = next_buffered_frame(error);
    if (envelope != nullptr) co_return Error{};
    if (error) {
      close();
      co_return Error{error.code, "bad frame from the server: " + error.message};
    }
    prepare_read();
    std::error_code io_error;
    auto* base = reinterpret_cast<std::uint8_t*>(input_.data());
    // Inline rather than a coroutine of its own: no extra frame per read on the hot path.
    asio::mutable_buffer room(base + input_end_, input_.size() * 8 - input_end_);
    std::size_t read = 0;
    if (tls_) {
      read =
          co_await tls_->async_read_some(room, asio::redirect_error(asio::use_awaitable, io_error));
    } else {
      read = co_await socket_.async_read_some(room,
                                              asio::redirect_error(asio::use_awaitable, io_error));
    }
    if (io_error) {
      close();
      co_return unavailable(io_error == asio::error::eof
                                ? std::string("the server closed the connection")
                                : fmt::format("read failed: {}", io_error.message()));
    }
    input_end_ += read;
  }
}

asio::awaitable<void> BenchConnection::serve(FrameSink& sink) {
  Error reason;
  for (;;) {
    const wire::Envelope* envelope = nullptr;
    // Drain every frame already buffered before the next read; flush once per batch.
    Error error;
    while ((envelope = next_buffered_frame(error)) != nullptr) {
      sink.on_frame(*this, *envelope);
    }
    if (error) {
      reason = Error{error.code, "bad frame from the server: " + error.message};
      break;
    }
    sink.on_batch_end();
    if (!is_open()) {
      reason = unavailable("closed");
      break;
    }
    prepare_read();
    std::error_code io_error;
    auto* base = reinterpret_cast<std::uint8_t*>(input_.data());
    // Inline rather than a coroutine of its own: no extra frame per read on the hot path.
    asio::mutable_buffer room(base + input_end_, input_.size() * 8 - input_end_);
    std::size_t read = 0;
    if (tls_) {
      read =
          co_await tls_->async_read_some(room, asio::redirect_error(asio::use_awaitable, io_error));
    } else {
      read = co_await socket_.async_read_some(room,
                                              asio::redirect_error(asio::use_awaitable, io_error));
    }
    if (io_error) {
      reason = unavailable(io_error == asio::error::eof
                               ? std::string("the server closed the connection")
                               : fmt::format("read failed: {}", io_error.message()));
      break;
    }
    input_end_ += read;
  }
  close();
  sink.on_closed(*this, reason);
}

bool BenchConnection::ping_if_quiet(std::chrono::steady_clock::time_point now) {
  if (!is_open() || opening_ || calling_ || writer_active_ || !outbound_.empty()) return false;
  if (now - last_sent_ < heartbeat_interval_ / 2) return false;
  builder_.reset();
  queue(builder_.finish(next_req_id(), wire::CreatePing(builder_.fbb(), ++pings_)));
  return true;
}

void BenchConnection::queue(std::span<const std::uint8_t> frame) {
  last_sent_ = std::chrono::steady_clock::now();
  outbound_.insert(outbound_.end(), frame.begin(), frame.end());
  if (!dirty_) {
    dirty_ = true;
    outbox_.mark(*this);
  }
}

void BenchConnection::flush() {
  dirty_ = false;
  if (writer_active_ || outbound_.empty() || !is_open()) return;
  if (tls_) {
    // A TLS record is written whole or not at all: never by a non-blocking write that could
    // stop inside one; the writer coroutine takes it.
    writer_active_ = true;
    asio::co_spawn(io_, write_rest(), asio::detached);
    return;
  }
  std::error_code error;
  std::size_t written = socket_.write_some(asio::buffer(outbound_), error);
  if (error && error != asio::error::would_block && error != asio::error::try_again) {
    failed_ = true;
    outbound_.clear();
    std::error_code ignored;
    socket_.close(ignored);  // the reader sees the end and reports it
    return;
  }
  if (written == outbound_.size()) {
    outbound_.clear();
    return;
  }
  outbound_.erase(outbound_.begin(), outbound_.begin() + static_cast<std::ptrdiff_t>(written));
  writer_active_ = true;
  asio::co_spawn(io_, write_rest(), asio::detached);
}

asio::awaitable<void> BenchConnection::write_rest() {
  while (!outbound_.empty() && is_open()) {
    writing_.clear();
    std::size_t take = std::min(outbound_.size(), write_batch_bytes_max);
    writing_.insert(writing_.end(), outbound_.begin(),
                    outbound_.begin() + static_cast<std::ptrdiff_t>(take));
    outbound_.erase(outbound_.begin(), outbound_.begin() + static_cast<std::ptrdiff_t>(take));
    std::error_code error;
    co_await write_all(asio::buffer(writing_), error);
    if (error) {
      failed_ = true;
      outbound_.clear();
      std::error_code ignored;
      socket_.close(ignored);
    }
  }
  writer_active_ = false;
}

asio::awaitable<Error> BenchConnection::handshake(const Endpoint& endpoint,
                                                  asio::ssl::context& context, bool verify,
                                                  std::chrono::milliseconds timeout) {
  tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, context);
  std::error_code error;
  asio::ip::make_address(endpoint.host, error);
  // SNI for a name (never for an address), and the name or address the certificate must hold.
  if (error) SSL_set_tlsext_host_name(tls_->native_handle(), endpoint.host.c_str());
  if (verify) tls_->set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
  error.clear();
  {
    Deadline deadline(io_, socket_, timeout);
    co_await tls_->async_handshake(asio::ssl::stream_base::client,
                                   asio::redirect_error(asio::use_awaitable, error));
    if (deadline.expired()) {
      co_return unavailable(fmt::format("timed out in the TLS handshake with {}:{} after {} ms",
                                        endpoint.host, endpoint.port, timeout.count()));
    }
  }
  if (!error) co_return Error{};
  long verified = SSL_get_verify_result(tls_->native_handle());
  if (verified != X509_V_OK) {
    co_return Error{
        errc::auth_failed,
        fmt::format("TLS handshake with {}:{} failed: the server's certificate is "
                    "not trusted: {} (--ca FILE, or --insecure-skip-verify)",
                    endpoint.host, endpoint.port, X509_verify_cert_error_string(verified))};
  }
  co_return unavailable(fmt::format("TLS handshake with {}:{} failed: {}", endpoint.host,
                                    endpoint.port, error.message()));
}

asio::awaitable<void> BenchConnection::write_all(asio::const_buffer buffer,
                                                 std::error_code& error) {
  if (tls_) {
    co_await asio::async_write(*tls_, buffer, asio::redirect_error(asio::use_awaitable, error));
  } else {
    co_await asio::async_write(socket_, buffer, asio::redirect_error(asio::use_awaitable, error));
  }
}

void BenchConnection::close(bool reset) {
  if (!socket_.is_open()) return;
  std::error_code ignored;
  if (reset) socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);
}

}  // namespace qim::bench
