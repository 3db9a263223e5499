#include "net/client_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <system_error>
#include <utility>

#include "net/http_request.h"
#include "net/web_files.h"
#include "net/ws_frame.h"
#include "proto/frame.h"
#include "service/im_service.h"

namespace qim::net {

namespace {

using Clock = std::chrono::steady_clock;

// The shard's read buffer. A frame that does not fit is finished in a buffer of its own.
constexpr std::size_t scratch_bytes = 64 * 1024;
// Readiness events taken from the set per wake-up.
constexpr int max_events = 128;
// Capacity of a connection's first output buffer, so a burst of replies does not grow it
// byte by byte; released with the buffer when the output is written.
constexpr std::size_t initial_output_bytes = 4 * 1024;

std::size_t words_for(std::size_t bytes) {
  return (bytes + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t);
}

bool would_block(int error) {
  return error == EAGAIN || error == EWOULDBLOCK;
}

std::string describe(int error) {
  return std::error_code(error, std::system_category()).message();
}

// Owns an accepted socket until a shard adopts it (a hand-over that never runs closes it).
class OwnedFd {
 public:
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&&) = delete;
  ~OwnedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

// Exists while the connection has output queued or being written.
struct ClientConnection::Outbound {
  std::vector<std::uint8_t> pending;  // GUARDED_BY(mutex_)
  std::size_t in_flight = 0;          // GUARDED_BY(mutex_): bytes of `writing`
  std::vector<std::uint8_t> writing;  // I/O thread only: the batch being written
  std::size_t written = 0;            // I/O thread only: bytes of `writing` already sent
};

// The incomplete frame at the end of what was read: the length prefix while it is incomplete,
// then the payload in an 8-byte-aligned buffer of its exact length.
struct ClientConnection::PartialFrame {
  std::uint8_t header[proto::frame_header_bytes];
  std::uint32_t header_bytes = 0;
  std::uint32_t length = 0;  // of the payload, once the header is complete
  std::uint32_t filled = 0;  // payload bytes received
  std::unique_ptr<std::uint64_t[]> payload;

  std::uint8_t* bytes() { return reinterpret_cast<std::uint8_t*>(payload.get()); }
};

// A WebSocket port's state: the HTTP request until it is answered, then the frame decoder
// (which holds buffers of its own only while a frame or message is incomplete).
struct ClientConnection::WebSocket {
  explicit WebSocket(std::uint32_t max_message_bytes) : decoder(max_message_bytes) {}

  WsDecoder decoder;
  bool answered = false;         // the HTTP request was answered (or a file is being read)
  bool upgraded = false;         // the 101 is queued: WebSocket frames from now on
  bool close_queued = false;     // our close frame is queued
  std::uint16_t close_code = 0;  // why we close, when this connection decided it
  std::string close_reason;
  std::string request;  // the HTTP request so far, until it is answered
};

namespace {

// The close code a WebSocket ends with when the connection fails with `code`.
std::uint16_t ws_close_code(errc code) {
  switch (code) {
    case errc::shutting_down:
      return ws_close::going_away;
    case errc::internal:
      return ws_close::internal_error;
    case errc::frame_too_large:
      return ws_close::message_too_big;
    case errc::malformed:
      return ws_close::protocol_error;
    case errc::too_many_connections:
      return ws_close::try_again_later;
    default:
      return ws_close::policy_violation;
  }
}

// The HTTP status a WebSocket port answers with when it fails with `code` before an upgrade.
int http_status(errc code) {
  switch (code) {
    case errc::too_many_connections:
    case errc::shutting_down:
      return 503;
    case errc::idle_timeout:
      return 408;
    case errc::internal:
      return 500;
    default:
      return 400;
  }
}

}  // namespace

// --- ClientConnection ------------------------------------------------------------------------

ClientConnection::ClientConnection(ConnectionShard& shard, int fd, std::string remote_host,
                                   bool rejected, std::unique_ptr<TlsStream> tls,
                                   ClientTransport transport)
    : shard_(shard),
      remote_host_(std::move(remote_host)),
      fd_(fd),
      rejected_(rejected),
      interest_(EPOLLIN),
      mark_(Clock::now()),
      transport_(transport),
      tls_(std::move(tls)) {
  if (transport != ClientTransport::native) {
    ws_ = std::make_unique<WebSocket>(shard_.options_.max_frame_bytes);
  }
}

ClientConnection::~ClientConnection() {
  if (fd_ >= 0) ::close(fd_);
  if (session_ && !session_closed_) {
    session_closed_ = true;
    session_->on_close();
  }
}

void ClientConnection::start(const std::optional<Error>& reject) {
  if (reject) {
    fail(reject->code, reject->message);
  } else if (!ws_) {
    session_.emplace(shard_.service_, *this);
  }
  // A WebSocket port creates the Session once the upgrade is answered.
}

bool ClientConnection::send(std::span<const std::uint8_t> frame) {
  bool wake = false;
  bool overflow = false;
  {
    std::lock_guard lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) return false;
    if (!out_) out_ = std::make_unique<Outbound>();
    Outbound& out = *out_;
    // Only the first frame of a batch wakes the I/O thread: until it has taken the batch, or
    // while it is writing or waiting for the socket, it comes back for what is pending.
    wake = out.pending.empty() && !wake_posted_;
    // On a WebSocket the payload goes as one binary message instead of behind its prefix.
    auto append = [this, &out](std::span<const std::uint8_t> bytes) {
      if (!ws_) {
        out.pending.insert(out.pending.end(), bytes.begin(), bytes.end());
        return;
      }
      std::span<const std::uint8_t> payload = bytes.subspan(proto::frame_header_bytes);
      std::uint8_t header[ws_max_server_header];
      std::size_t header_bytes = ws_server_header(ws_opcode_binary, payload.size(), header);
      out.pending.insert(out.pending.end(), header, header + header_bytes);
      out.pending.insert(out.pending.end(), payload.begin(), payload.end());
    };
    if (out.pending.size() + out.in_flight + frame.size() <= shard_.options_.session_queue_bytes) {
      if (out.pending.capacity() == 0) {
        out.pending.reserve(std::max(frame.size(), initial_output_bytes));
      }
      append(frame);
      ClientCounters::add(shard_.counters_.bytes_sent, frame.size());
    } else {
      // Slow consumer: one Error frame beyond the cap, then close. The peer resyncs by seq.
      auto error = proto::make_error_frame(0, errc::slow_consumer,
                                           "outbound queue overflowed; reconnect and sync");
      append(error);
      closing_ = true;
      overflow = true;
      ClientCounters::add(shard_.counters_.slow_consumers);
      wake = !wake_posted_;
    }
    if (wake) wake_posted_ = true;
  }
  if (overflow) {
    shard_.logger_.info("net", "closing slow consumer {}: more than {} bytes queued", remote_host_,
                        shard_.options_.session_queue_bytes);
  }
  if (wake) post_wake();
  return !overflow;
}

void ClientConnection::close_after_flush() {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) return;
    closing_ = true;
    wake = !wake_posted_;
    wake_posted_ = true;
  }
  if (wake) post_wake();
}

void ClientConnection::post_wake() {
  // wake_posted_ keeps this object alive until the handler has run.
  asio::post(shard_.context_, [this] { on_wake(); });
}

void ClientConnection::on_wake() {
  {
    std::lock_guard lock(mutex_);
    wake_posted_ = false;
  }
  if (phase_ == Phase::done) return maybe_free();
  if (closing_.load(std::memory_order_relaxed)) observe_close();
  flush();
}

bool ClientConnection::reserve_job(bool pool) {
  if (closing_.load(std::memory_order_relaxed)) return false;
  // Only jobs on the blocking pool count against its bound: answers awaited from the replicas
  // or other nodes are bounded by the Session, and a busy session may have many of them.
  if (pool && pool_jobs_ >= shard_.options_.max_blocking_jobs) {
    shard_.logger_.warn("net", "closing {}: more than {} requests in flight off the I/O thread",
                        remote_host_, shard_.options_.max_blocking_jobs);
    fail(errc::rate_limited, "too many requests in flight; wait for the answers");
    return false;
  }
  ++blocking_jobs_;
  if (pool) ++pool_jobs_;
  return true;
}

void ClientConnection::finish_job(std::function<void()> then, bool pool) {
  // The count keeps this object alive until the handler has run.
  asio::post(shard_.context_, [this, then = std::move(then), pool] {
    assert(blocking_jobs_ > 0 && "a job finished twice");
    --blocking_jobs_;
    if (pool) --pool_jobs_;
    if (phase_ == Phase::done) return maybe_free();
    if (closing_.load(std::memory_order_relaxed)) return;
    try {
      then();
    } catch (const std::exception& exception) {
      shard_.logger_.error("net", "session of {} threw: {}", remote_host_, exception.what());
      fail(errc::internal, "internal error");
    }
  });
}

void ClientConnection::run_blocking(std::function<void()> work, std::function<void()> then) {
  if (!reserve_job(true)) return;
  asio::post(shard_.blocking_pool_, [this, work = std::move(work),
                                     then = std::move(then)]() mutable {
    try {
      work();
    } catch (const std::exception& exception) {
      shard_.logger_.error("net", "blocking job for {} threw: {}", remote_host_, exception.what());
    }
    finish_job(std::move(then), true);
  });
}

session::Connection::Completion ClientConnection::begin_async() {
  // Bounded by the Session, which answers RateLimited beyond its bound instead of closing.
  if (!reserve_job(false)) return {};
  return [this](std::function<void()> then) { finish_job(std::move(then), false); };
}

void ClientConnection::close_with_error(errc code, std::string_view message) {
  if (closing_.load(std::memory_order_relaxed)) return;
  fail(code, message);
}

void ClientConnection::abort() {
  close_after_flush();
  finish();
}

void ClientConnection::fail(errc code, std::string_view message) {
  if (ws_ && !ws_->upgraded) {
    // No WebSocket yet: the peer speaks HTTP.
    if (!ws_->answered) {
      ws_->answered = true;
      queue_raw(http_error(http_status(code), message));
    }
    close_after_flush();
    return;
  }
  if (ws_ && ws_->close_code == 0) {
    ws_->close_code = ws_close_code(code);
    ws_->close_reason = std::string(message);
  }
  auto frame = proto::make_error_frame(0, code, message);
  send(frame);
  close_after_flush();
}

void ClientConnection::idle_out() {
  shard_.logger_.debug("net", "{} idle for {} ms", remote_host_,
                       shard_.options_.idle_timeout.count());
  fail(errc::idle_timeout,
       fmt::format("no frame received for {} ms; reconnect", shard_.options_.idle_timeout.count()));
  observe_close();
}

void ClientConnection::observe_close() {
  if (phase_ != Phase::open) return;
  phase_ = Phase::flushing;
  mark_ = Clock::now() + shard_.options_.flush_timeout;
  partial_.reset();  // no frame is handed over any more
  shard_.to_closing(*this);
  if (ws_ && ws_->upgraded && !ws_->close_queued) {
    // After everything the Session queued (send() refuses from now on): the close frame.
    ws_->close_queued = true;
    bool stopping = shard_.stopping_.load(std::memory_order_relaxed);
    std::uint16_t code = ws_->close_code != 0 ? ws_->close_code
                         : stopping           ? ws_close::going_away
                                              : ws_close::normal;
    std::string_view reason = ws_->close_code != 0 ? std::string_view(ws_->close_reason)
                              : stopping           ? std::string_view("node is shutting down")
                                                   : std::string_view();
    auto frame = ws_close_frame(code, reason);
    queue_raw(frame);
  }
}

void ClientConnection::update_interest() {
  std::uint8_t wanted = 0;
  if (reading_) wanted |= EPOLLIN;
  if ((write_blocked_ && !tls_write_wants_read_) || tls_read_wants_write_) wanted |= EPOLLOUT;
  if (wanted == interest_ || fd_ < 0) return;
  epoll_event event{};
  event.events = wanted;
  event.data.ptr = this;
  if (::epoll_ctl(shard_.epoll_fd_, EPOLL_CTL_MOD, fd_, &event) != 0) {
    shard_.logger_.warn("net", "cannot watch {}: {}", remote_host_, describe(errno));
    return finish();
  }
  interest_ = wanted;
}

void ClientConnection::on_io(std::uint32_t events) {
  if (phase_ == Phase::done) return;
  bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
  bool readable = (events & EPOLLIN) != 0;
  bool writable = (events & EPOLLOUT) != 0;
  if (write_blocked_ && (failed || (tls_write_wants_read_ ? readable : writable))) {
    write_blocked_ = false;
    tls_write_wants_read_ = false;
    flush();
    update_interest();  // stops waiting for output unless the socket is full again
  }
  if (phase_ == Phase::done) return;
  if (reading_ && (failed || readable || (tls_read_wants_write_ && writable))) {
    tls_read_wants_write_ = false;
    on_readable();
    // Input TLS decrypted beyond what the last read took is not reported by the socket.
    while (tls_ && phase_ != Phase::done && reading_ && tls_->has_buffered_input())
      on_readable();
    if (phase_ != Phase::done) update_interest();
  }
  // An error or hang-up that neither reading nor writing will take up.
  if (phase_ != Phase::done && failed && !reading_ && !write_blocked_) finish();
}

ssize_t ClientConnection::receive(std::uint8_t* buffer, std::size_t size) {
  if (!tls_) return ::recv(fd_, buffer, size, 0);
  TlsResult result = tls_->read(buffer, size);
  switch (result.status) {
    case TlsStatus::done:
      return static_cast<ssize_t>(result.bytes);
    case TlsStatus::closed:
      return 0;
    case TlsStatus::want_write:
      tls_read_wants_write_ = true;
      [[fallthrough]];
    case TlsStatus::want_read:
      errno = EAGAIN;
      return -1;
    case TlsStatus::failed:
      break;
  }
  shard_.logger_.debug("net", "TLS with {} failed: {}", remote_host_, tls_->failure());
  errno = EPROTO;
  return -1;
}

ssize_t ClientConnection::transmit(const std::uint8_t* buffer, std::size_t size) {
  if (!tls_) return ::send(fd_, buffer, size, MSG_NOSIGNAL);
  TlsResult result = tls_->write(buffer, size);
  switch (result.status) {
    case TlsStatus::done:
      return static_cast<ssize_t>(result.bytes);
    case TlsStatus::want_read:
      tls_write_wants_read_ = true;
      [[fallthrough]];
    case TlsStatus::want_write:
      errno = EAGAIN;
      return -1;
    case TlsStatus::closed:
    case TlsStatus::failed:
      break;
  }
  shard_.logger_.debug("net", "TLS with {} failed: {}", remote_host_, tls_->failure());
  errno = EPROTO;
  return -1;
}

bool ClientConnection::check_first_byte() {
  std::uint8_t first = 0;
  ssize_t count = ::recv(fd_, &first, 1, MSG_PEEK);
  if (count <= 0) {
    if (count == 0 || !(would_block(errno) || errno == EINTR)) read_done();
    return false;
  }
  first_byte_checked_ = true;
  constexpr std::uint8_t tls_handshake_record = 0x16;
  if (first == tls_handshake_record) return true;
  // A plaintext client: it can read a plaintext Error frame, not a TLS alert.
  shard_.logger_.info("net", "refusing {}: plaintext on a TLS port", remote_host_);
  tls_.reset();
  fail(errc::unsupported_version,
       ws_ ? "this port speaks TLS 1.3 only; connect with wss://"
           : "this port speaks TLS 1.3 only; connect with TLS (qim --tls)");
  observe_close();
  return false;
}

// --- reading ---------------------------------------------------------------------------------

void ClientConnection::on_readable() {
  if (tls_ && !first_byte_checked_ && phase_ == Phase::open && !check_first_byte()) return;
  if (closing_.load(std::memory_order_relaxed)) observe_close();
  if (phase_ != Phase::open) {
    // Closing: discard, within the linger bound.
    ssize_t count = receive(shard_.scratch(), scratch_bytes);
    if (count > 0) {
      std::size_t drained = drained_bytes_ + static_cast<std::size_t>(count);
      if (drained >= std::min<std::size_t>(shard_.options_.linger_bytes_max, UINT32_MAX)) {
        return finish();
      }
      drained_bytes_ = static_cast<std::uint32_t>(drained);
    } else if (count == 0 || !(would_block(errno) || errno == EINTR)) {
      read_done();
    }
    return;
  }
  if (ws_) return on_ws_readable();

  if (partial_ && partial_->payload) {
    // The rest of a frame whose start was read earlier goes straight into its own buffer.
    PartialFrame& partial = *partial_;
    ssize_t count = receive(partial.bytes() + partial.filled, partial.length - partial.filled);
    if (count <= 0) {
      if (count == 0 || !(would_block(errno) || errno == EINTR)) read_done();
      return;
    }
    partial.filled += static_cast<std::uint32_t>(count);
    if (partial.filled < partial.length) return;
    std::unique_ptr<PartialFrame> frame = std::move(partial_);
    mark_ = Clock::now();
    if (session_) deliver({frame->bytes(), frame->length});
    return;  // more input is reported again: the readiness is level-triggered
  }

  // Into the shard's buffer, after the part of a length prefix read earlier.
  std::uint8_t* buffer = shard_.scratch();
  std::size_t kept = 0;
  if (partial_) {
    kept = partial_->header_bytes;
    std::memcpy(buffer, partial_->header, kept);
  }
  ssize_t count = receive(buffer + kept, scratch_bytes - kept);
  if (count <= 0) {
    if (count == 0 || !(would_block(errno) || errno == EINTR)) read_done();
    return;
  }
  partial_.reset();
  dispatch(buffer, kept + static_cast<std::size_t>(count));
}

void ClientConnection::dispatch(std::uint8_t* buffer, std::size_t size) {
  const std::uint32_t max_frame_bytes = shard_.options_.max_frame_bytes;
  std::size_t offset = 0;
  bool received = false;
  while (size - offset >= proto::frame_header_bytes) {
    std::uint32_t length = proto::decode_frame_length(buffer + offset);
    if (length > max_frame_bytes) {
      fail(errc::frame_too_large,
           fmt::format("frame of {} bytes exceeds the limit of {} bytes", length, max_frame_bytes));
      return observe_close();
    }
    if (length == 0) {
      fail(errc::malformed, "frame length is 0");
      return observe_close();
    }
    if (size - offset - proto::frame_header_bytes < length) break;
    std::span<const std::uint8_t> payload(buffer + offset + proto::frame_header_bytes, length);
    offset += proto::frame_header_bytes + length;
    if (!received) {
      received = true;
      mark_ = Clock::now();
    }
    if (!session_) continue;  // a rejected connection: discard
    if (reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(std::uint64_t) != 0) {
      payload = shard_.aligned_copy(payload);
    }
    deliver(payload);
    if (closing_.load(std::memory_order_relaxed)) return observe_close();
  }
  std::size_t rest = size - offset;
  if (rest == 0) return;
  // Keep the incomplete frame; its length, if complete, was checked above.
  auto partial = std::make_unique<PartialFrame>();
  if (rest < proto::frame_header_bytes) {
    std::memcpy(partial->header, buffer + offset, rest);
    partial->header_bytes = static_cast<std::uint32_t>(rest);
  } else {
    partial->length = proto::decode_frame_length(buffer + offset);
    partial->filled = static_cast<std::uint32_t>(rest - proto::frame_header_bytes);
    partial->payload.reset(new std::uint64_t[words_for(partial->length)]);
    std::memcpy(partial->bytes(), buffer + offset + proto::frame_header_bytes, partial->filled);
  }
  partial_ = std::move(partial);
}

void ClientConnection::deliver(std::span<const std::uint8_t> payload) {
  ClientCounters::add(shard_.counters_.bytes_received, payload.size() + proto::frame_header_bytes);
  try {
    session_->on_frame(payload);
  } catch (const std::exception& exception) {
    // The Session threw: a bug, but one connection's, so only it goes.
    shard_.logger_.error("net", "session of {} threw: {}", remote_host_, exception.what());
    fail(errc::internal, "internal error");
    observe_close();
  }
}

// --- WebSocket ports ---------------------------------------------------------------------------

void ClientConnection::on_ws_readable() {
  std::uint8_t* buffer = shard_.scratch();
  ssize_t count = receive(buffer, scratch_bytes);
  if (count <= 0) {
    if (count == 0 || !(would_block(errno) || errno == EINTR)) read_done();
    return;
  }
  std::span<std::uint8_t> input(buffer, static_cast<std::size_t>(count));
  if (ws_->upgraded) return ws_feed(input);
  if (ws_->answered) return;  // a file is being read for the answer: more input is ignored
  answer_http(input);
}

void ClientConnection::answer_http(std::span<const std::uint8_t> input) {
  WebSocket& ws = *ws_;
  // At most the 8 KiB limit plus one read: the parser refuses longer requests.
  ws.request.append(reinterpret_cast<const char*>(input.data()), input.size());
  HttpRequest request;
  HttpParseResult parsed = parse_http_request(ws.request, request);
  HttpDecision decision;
  switch (parsed.status) {
    case HttpParseStatus::incomplete:
      return;  // an unfinished request is ended by the idle timeout
    case HttpParseStatus::malformed:
      decision.status = 400;
      decision.reason = parsed.reason;
      decision.response = http_error(400, parsed.reason);
      break;
    case HttpParseStatus::too_large:
      decision.status = 431;
      decision.reason = parsed.reason;
      decision.response = http_error(431, parsed.reason);
      break;
    case HttpParseStatus::complete:
      decision = decide_http(request, shard_.options_.ws);
      break;
  }
  ws.answered = true;
  // Only the path is logged: a query could carry what a client should not have put there.
  std::string_view path = request.target.substr(0, request.target.find('?'));
  if (decision.action == HttpAction::respond) {
    shard_.logger_.info("net", "HTTP {} to {} ({} {}): {}", decision.status, remote_host_,
                        request.method, path, decision.reason);
    queue_raw(decision.response);
    std::string().swap(ws.request);
    close_after_flush();
    return observe_close();
  }
  if (decision.action == HttpAction::serve_file) {
    std::string().swap(ws.request);
    auto response = std::make_shared<std::string>();
    run_blocking([response, root = shard_.options_.web_root, file = std::move(decision.file),
                  head = decision.head_only] { *response = web_file_response(root, file, head); },
                 [this, response] {
                   queue_raw(*response);
                   close_after_flush();
                   observe_close();
                 });
    return;
  }
  // The upgrade: bytes after the request are the first frames.
  std::string rest = ws.request.substr(parsed.consumed);
  std::string().swap(ws.request);
  queue_raw(decision.response);
  ws.upgraded = true;
  mark_ = Clock::now();
  shard_.logger_.debug("net", "WebSocket from {} open", remote_host_);
  session_.emplace(shard_.service_, *this);
  if (!rest.empty()) {
    ws_feed({reinterpret_cast<std::uint8_t*>(rest.data()), rest.size()});
  }
}

void ClientConnection::ws_feed(std::span<std::uint8_t> input) {
  for (;;) {
    WsEvent event = ws_->decoder.next(input);
    switch (event.kind) {
      case WsEvent::Kind::need_more:
        return;
      case WsEvent::Kind::message: {
        mark_ = Clock::now();
        std::span<const std::uint8_t> payload = event.payload;
        if (reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(std::uint64_t) != 0) {
          payload = shard_.aligned_copy(payload);
        }
        deliver(payload);
        if (closing_.load(std::memory_order_relaxed)) return observe_close();
        break;
      }
      case WsEvent::Kind::ping: {
        mark_ = Clock::now();
        std::vector<std::uint8_t> pong(ws_max_server_header);
        pong.resize(ws_server_header(ws_opcode_pong, event.payload.size(), pong.data()));
        pong.insert(pong.end(), event.payload.begin(), event.payload.end());
        queue_raw(pong);
        break;
      }
      case WsEvent::Kind::pong:
        mark_ = Clock::now();
        break;
      case WsEvent::Kind::close:
        // Answered with the peer's own code, as RFC 6455 §5.5.1 asks.
        return ws_close(event.code != 0 ? event.code : ws_close::normal, {});
      case WsEvent::Kind::fail:
        shard_.logger_.info("net", "closing the WebSocket of {} ({}): {}", remote_host_, event.code,
                            event.reason);
        return ws_close(event.code, event.reason);
    }
  }
}

void ClientConnection::ws_close(std::uint16_t code, std::string_view reason) {
  if (ws_->close_code == 0) {
    ws_->close_code = code;
    ws_->close_reason = std::string(reason);
  }
  close_after_flush();
  observe_close();
}

void ClientConnection::queue_raw(std::span<const std::uint8_t> bytes) {
  bool wake = false;
  bool overflow = false;
  {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::done) return;
    if (!out_) out_ = std::make_unique<Outbound>();
    Outbound& out = *out_;
    // Pongs count against the queue cap like everything else: a peer that pings and never
    // reads is a slow consumer.
    if (out.pending.size() + out.in_flight > shard_.options_.session_queue_bytes &&
        !closing_.load(std::memory_order_relaxed)) {
      overflow = true;
    } else {
      out.pending.insert(out.pending.end(), bytes.begin(), bytes.end());
    }
    wake = !wake_posted_;
    if (wake) wake_posted_ = true;
  }
  if (wake) post_wake();
  if (overflow) {
    ClientCounters::add(shard_.counters_.slow_consumers);
    ws_close(ws_close::policy_violation, "outbound queue overflowed; reconnect and sync");
  }
}

void ClientConnection::read_done() {
  reading_ = false;
  partial_.reset();
  if (phase_ == Phase::lingering) return finish();  // the peer closed after our FIN
  update_interest();
  if (phase_ == Phase::done) return;
  // EOF or a read error: flush what we can, then close (no FIN and linger: nobody reads).
  close_after_flush();
  observe_close();
}

// --- writing ---------------------------------------------------------------------------------

void ClientConnection::flush() {
  if (phase_ == Phase::done || write_blocked_) return;
  for (;;) {
    Outbound* out = nullptr;
    std::unique_ptr<Outbound> idle;
    bool batch = false;
    bool closing = false;
    {
      std::lock_guard lock(mutex_);
      out = out_.get();
      if (out && out->written == out->writing.size()) {
        out->writing.clear();
        out->written = 0;
        out->in_flight = 0;
        if (out->pending.empty()) {
          idle = std::move(out_);  // released outside the lock
          out = nullptr;
        } else {
          out->writing.swap(out->pending);
          out->in_flight = out->writing.size();
          batch = true;
        }
      }
      closing = closing_.load(std::memory_order_relaxed);
    }
    if (!out) {
      if (closing) flushed();
      return;
    }
    if (batch) {
      // Group commit: these bytes may reveal store writes still in the WAL buffer (SendAcks,
      // pushes); the first writer after a burst writes them all out, the others find it done.
      if (Error durable = shard_.service_.make_durable()) {
        shard_.logger_.error("net", "not writing to {}: {}", remote_host_, durable.message);
        return finish();
      }
    }
    ssize_t count =
        transmit(out->writing.data() + out->written, out->writing.size() - out->written);
    if (count >= 0) {
      out->written += static_cast<std::size_t>(count);
      continue;
    }
    int error = errno;
    if (error == EINTR) continue;
    if (would_block(error)) {
      // A TLS handshake that waits for input the peer will never send any more.
      if (tls_write_wants_read_ && !reading_) return finish();
      write_blocked_ = true;
      return update_interest();
    }
    shard_.logger_.debug("net", "write to {} failed: {}", remote_host_, describe(error));
    return finish();
  }
}

void ClientConnection::flushed() {
  observe_close();
  if (phase_ != Phase::flushing) return;
  if (!reading_) return finish();
  // Everything is flushed: send FIN, and drain the peer's bytes until it closes too, within
  // the linger bounds.
  if (tls_) tls_->close_notify();
  ::shutdown(fd_, SHUT_WR);
  phase_ = Phase::lingering;
  mark_ = Clock::now() + shard_.options_.linger_timeout;
}

// --- the end ---------------------------------------------------------------------------------

void ClientConnection::finish() {
  if (phase_ == Phase::done) return;
  phase_ = Phase::done;
  std::unique_ptr<Outbound> unsent;
  {
    std::lock_guard lock(mutex_);
    closing_ = true;  // send() refuses from now on
    unsent = std::move(out_);
  }
  ::close(fd_);  // also leaves the readiness set
  fd_ = -1;
  partial_.reset();
  shard_.to_done(*this);
  if (session_ && !session_closed_) {
    session_closed_ = true;
    session_->on_close();
  }
  maybe_free();
}

void ClientConnection::maybe_free() {
  if (blocking_jobs_ > 0) return;
  {
    std::lock_guard lock(mutex_);
    if (wake_posted_) return;
  }
  shard_.free(*this);
}

// --- ConnectionShard -------------------------------------------------------------------------

asio::execution_context::id ConnectionShard::id;

namespace {

std::chrono::steady_clock::duration clamp_period(std::chrono::milliseconds period) {
  return std::clamp<std::chrono::steady_clock::duration>(period, std::chrono::milliseconds(10),
                                                         std::chrono::seconds(10));
}

}  // namespace

ConnectionShard::ConnectionShard(asio::execution_context& owner, asio::io_context& context,
                                 qim::service::ImService& service, asio::thread_pool& blocking_pool,
                                 core::Logger& logger, const ConnectionOptions& options)
    : asio::execution_context::service(owner),
      context_(context),
      service_(service),
      blocking_pool_(blocking_pool),
      logger_(logger),
      options_(options),
      // Timeouts fire up to 1/8 of their length late (the idle timeout at most 10 s late):
      // closing connections are few and checked often, open ones are many and checked rarely.
      tick_(std::min(clamp_period(std::min(options.flush_timeout, options.linger_timeout) / 8),
                     clamp_period(options.idle_timeout / 8))),
      idle_sweep_(clamp_period(options.idle_timeout / 8)),
      scratch_(new std::uint64_t[words_for(scratch_bytes)]) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    throw std::system_error(errno, std::system_category(), "epoll_create1");
  }
  ready_.emplace(context_, epoll_fd_);
  timer_.emplace(context_);
  watch();
}

ConnectionShard::~ConnectionShard() {
  destroy_all();
}

void ConnectionShard::shutdown() {
  // The io_context is being destroyed: handlers that would have finished these connections
  // will never run.
  destroy_all();
}

void ConnectionShard::destroy_all() {
  for (ListHook* list : {&open_, &closing_, &done_, &freed_}) {
    while (list->linked()) {
      auto* connection = static_cast<ClientConnection*>(list->next);
      connection->unlink();
      delete connection;
    }
  }
  timer_.reset();
  ready_.reset();  // closes the set
}

void ConnectionShard::hand_over(int fd, std::string remote_host, std::optional<Error> reject,
                                std::shared_ptr<const TlsContext> tls, ClientTransport transport) {
  (reject ? rejecting_ : live_).fetch_add(1, std::memory_order_relaxed);
  if (!reject) {
    live_by_transport_[static_cast<std::size_t>(transport)].fetch_add(1, std::memory_order_relaxed);
  }
  asio::post(context_, [this, socket = OwnedFd(fd), remote_host = std::move(remote_host),
                        reject = std::move(reject), tls = std::move(tls), transport]() mutable {
    adopt(socket.release(), std::move(remote_host), std::move(reject), tls, transport);
  });
}

void ConnectionShard::adopt(int fd, std::string remote_host, std::optional<Error> reject,
                            const std::shared_ptr<const TlsContext>& tls,
                            ClientTransport transport) {
  std::unique_ptr<TlsStream> stream;
  if (tls) {
    std::string error;
    stream = TlsStream::accept(*tls, fd, error);
    if (!stream) {
      logger_.error("net", "closing {}: {}", remote_host, error);
      ::close(fd);
      (reject ? rejecting_ : live_).fetch_sub(1, std::memory_order_relaxed);
      if (!reject) {
        live_by_transport_[static_cast<std::size_t>(transport)].fetch_sub(
            1, std::memory_order_relaxed);
      }
      return;
    }
  }
  auto* connection = new ClientConnection(*this, fd, std::move(remote_host), reject.has_value(),
                                          std::move(stream), transport);
  open_.push_back(*connection);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = connection;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    logger_.warn("net", "cannot watch {}: {}", connection->remote_host(), describe(errno));
    return connection->finish();
  }
  logger_.debug("net", "connection from {} opened ({} open)", connection->remote_host(),
                live_connections());
  try {
    connection->start(reject);
  } catch (const std::exception& exception) {
    logger_.error("net", "cannot serve {}: {}", connection->remote_host(), exception.what());
    connection->finish();
  }
  arm_timer();
}

void ConnectionShard::watch() {
  ready_->async_wait(asio::posix::stream_descriptor::wait_read,
                     [this](const asio::error_code& error) {
                       if (!error) on_ready();
                     });
}

void ConnectionShard::on_ready() {
  epoll_event events[max_events];
  int count = ::epoll_wait(epoll_fd_, events, max_events, 0);
  for (int index = 0; index < count; ++index) {
    auto* connection = static_cast<ClientConnection*>(events[index].data.ptr);
    // A connection that finished earlier in this batch is only freed after it.
    try {
      connection->on_io(events[index].events);
    } catch (const std::exception& exception) {
      logger_.error("net", "connection of {} failed: {}", connection->remote_host(),
                    exception.what());
      connection->finish();
    }
  }
  // The set stays readable while events are left (level-triggered): the wait completes again.
  watch();
}

void ConnectionShard::arm_timer() {
  if (timer_armed_ || (!open_.linked() && !closing_.linked())) return;
  timer_armed_ = true;
  timer_->expires_after(tick_);
  timer_->async_wait([this](const asio::error_code& error) {
    if (error) return;
    timer_armed_ = false;
    on_tick();
    arm_timer();
  });
}

void ConnectionShard::on_tick() {
  auto now = Clock::now();
  // A connection may leave the list it is in while visited; the next one stays.
  for (ListHook* node = closing_.next; node != &closing_;) {
    auto* connection = static_cast<ClientConnection*>(node);
    node = node->next;
    // The peer does not read (flushing) or does not close (lingering): close hard.
    if (now >= connection->mark_) connection->finish();
  }
  if (now < next_idle_sweep_) return;
  next_idle_sweep_ = now + idle_sweep_;
  for (ListHook* node = open_.next; node != &open_;) {
    auto* connection = static_cast<ClientConnection*>(node);
    node = node->next;
    if (now - connection->mark_ < options_.idle_timeout) continue;
    try {
      connection->idle_out();
    } catch (const std::exception& exception) {
      logger_.error("net", "connection of {} failed: {}", connection->remote_host(),
                    exception.what());
      connection->finish();
    }
  }
}

void ConnectionShard::to_closing(ClientConnection& connection) {
  connection.unlink();
  closing_.push_back(connection);
}

void ConnectionShard::to_done(ClientConnection& connection) {
  connection.unlink();
  done_.push_back(connection);
}

void ConnectionShard::free(ClientConnection& connection) {
  connection.unlink();
  freed_.push_back(connection);
  if (reap_posted_) return;
  reap_posted_ = true;
  asio::post(context_, [this] { reap(); });
}

void ConnectionShard::reap() {
  reap_posted_ = false;
  while (freed_.linked()) {
    auto* connection = static_cast<ClientConnection*>(freed_.next);
    connection->unlink();
    logger_.debug("net", "connection from {} closed", connection->remote_host());
    (connection->rejected_ ? rejecting_ : live_).fetch_sub(1, std::memory_order_relaxed);
    if (!connection->rejected_) {
      live_by_transport_[static_cast<std::size_t>(connection->transport_)].fetch_sub(
          1, std::memory_order_relaxed);
    }
    delete connection;
  }
}

std::span<const std::uint8_t> ConnectionShard::aligned_copy(std::span<const std::uint8_t> payload) {
  if (aligned_.size() < words_for(payload.size())) aligned_.resize(words_for(payload.size()));
  std::memcpy(aligned_.data(), payload.data(), payload.size());
  return {reinterpret_cast<const std::uint8_t*>(aligned_.data()), payload.size()};
}

}  // namespace qim::net
