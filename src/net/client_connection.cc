#include "net/client_connection.h"

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <exception>
#include <utility>

#include "proto/frame.h"
#include "service/im_service.h"

namespace qim::net {

namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

// Buffers beyond these sizes are released once empty, so an idle connection holds little
// memory whatever burst it saw.
constexpr std::size_t retained_output_bytes = 64 * 1024;
constexpr std::size_t initial_input_bytes = 4 * 1024;
constexpr std::size_t retained_input_bytes = 16 * 1024;

std::string peer_address(const asio::ip::tcp::socket& socket) {
  asio::error_code error;
  auto endpoint = socket.remote_endpoint(error);
  return error ? std::string("unknown") : endpoint.address().to_string();
}

std::size_t words_for(std::size_t bytes) {
  return (bytes + sizeof(std::uint64_t) - 1) / sizeof(std::uint64_t);
}

}  // namespace

ClientConnection::ClientConnection(asio::ip::tcp::socket socket, service::ImService& service,
                                   asio::thread_pool& blocking_pool, core::Logger& logger,
                                   const ConnectionOptions& options)
    : socket_(std::move(socket)),
      service_(service),
      blocking_pool_(blocking_pool),
      logger_(logger),
      options_(options),
      remote_host_(peer_address(socket_)),
      doorbell_(socket_.get_executor(), 1),
      close_bell_(socket_.get_executor(), 1),
      timer_(socket_.get_executor()),
      last_frame_time_(Clock::now()),
      blocking_jobs_done_(socket_.get_executor()) {}

ClientConnection::~ClientConnection() {
  if (session_ && !session_closed_) {
    session_closed_ = true;
    session_->on_close();
  }
}

asio::awaitable<void> ClientConnection::run(std::optional<Error> reject) {
  using namespace asio::experimental::awaitable_operators;
  if (reject) {
    fail(reject->code, reject->message);
  } else {
    session_.emplace(service_, *this);
  }

  co_await (reader() && writer() && watchdog());

  {
    std::lock_guard lock(mutex_);
    closing_ = true;  // send() refuses from now on
    pending_.clear();
  }
  asio::error_code ignored;
  socket_.close(ignored);
  if (session_) {
    session_closed_ = true;
    session_->on_close();
  }
  // Outstanding blocking jobs hold `this`: wait for their completions (which drop `then`,
  // since the connection is closing) before the Session and this object go away.
  while (blocking_jobs_ > 0) {
    blocking_jobs_done_.expires_at(Clock::time_point::max());
    co_await blocking_jobs_done_.async_wait(use_nothrow);
  }
  session_.reset();
}

bool ClientConnection::send(std::span<const std::uint8_t> frame) {
  bool ring = false;
  bool overflow = false;
  {
    std::lock_guard lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) return false;
    if (pending_.size() + in_flight_bytes_ + frame.size() <= options_.session_queue_bytes) {
      ring = pending_.empty();
      pending_.insert(pending_.end(), frame.begin(), frame.end());
    } else {
      // Slow consumer: one Error frame beyond the cap, then close. The peer resyncs by seq.
      auto error = proto::make_error_frame(0, errc::slow_consumer,
                                           "outbound queue overflowed; reconnect and sync");
      pending_.insert(pending_.end(), error.begin(), error.end());
      closing_ = true;
      overflow = true;
    }
  }
  if (overflow) {
    logger_.info("net", "closing slow consumer {}: more than {} bytes queued", remote_host_,
                 options_.session_queue_bytes);
    doorbell_.try_send(asio::error_code(), true);
    close_bell_.try_send(asio::error_code(), true);
    return false;
  }
  if (ring) doorbell_.try_send(asio::error_code(), true);
  return true;
}

void ClientConnection::close_after_flush() {
  {
    std::lock_guard lock(mutex_);
    if (closing_.load(std::memory_order_relaxed)) return;
    closing_ = true;
  }
  doorbell_.try_send(asio::error_code(), true);
  close_bell_.try_send(asio::error_code(), true);
}

bool ClientConnection::reserve_job() {
  if (closing_.load(std::memory_order_relaxed)) return false;
  if (blocking_jobs_ >= options_.max_blocking_jobs) {
    logger_.warn("net", "closing {}: more than {} requests in flight off the I/O thread",
                 remote_host_, options_.max_blocking_jobs);
    fail(errc::rate_limited, "too many requests in flight; wait for the answers");
    return false;
  }
  ++blocking_jobs_;
  return true;
}

void ClientConnection::finish_job(std::function<void()> then) {
  asio::post(socket_.get_executor(), [this, then = std::move(then)] {
    assert(blocking_jobs_ > 0 && "a job finished twice");
    --blocking_jobs_;
    if (blocking_jobs_ == 0) blocking_jobs_done_.cancel();
    if (!closing_.load(std::memory_order_relaxed)) then();
  });
}

void ClientConnection::run_blocking(std::function<void()> work, std::function<void()> then) {
  if (!reserve_job()) return;
  asio::post(blocking_pool_, [this, work = std::move(work), then = std::move(then)]() mutable {
    try {
      work();
    } catch (const std::exception& exception) {
      logger_.error("net", "blocking job for {} threw: {}", remote_host_, exception.what());
    }
    finish_job(std::move(then));
  });
}

session::Connection::Completion ClientConnection::begin_async() {
  if (!reserve_job()) return {};
  return [this](std::function<void()> then) { finish_job(std::move(then)); };
}

void ClientConnection::close_with_error(errc code, std::string_view message) {
  if (closing_.load(std::memory_order_relaxed)) return;
  fail(code, message);
}

void ClientConnection::abort() {
  close_after_flush();
  asio::error_code ignored;
  socket_.close(ignored);  // completes the pending read and write with errors
  timer_.cancel();
}

void ClientConnection::fail(errc code, std::string_view message) {
  auto frame = proto::make_error_frame(0, code, message);
  send(frame);
  close_after_flush();
}

void ClientConnection::observe_close() {
  if (phase_ != Phase::open) return;
  phase_ = Phase::flushing;
  flush_deadline_ = Clock::now() + options_.flush_timeout;
  timer_.cancel();  // the watchdog re-arms with the flush deadline
}

Clock::time_point ClientConnection::deadline() const {
  switch (phase_) {
    case Phase::open:
      return last_frame_time_ + options_.idle_timeout;
    case Phase::flushing:
      return flush_deadline_;
    case Phase::lingering:
      return linger_deadline_;
  }
  return flush_deadline_;
}

// --- reader ----------------------------------------------------------------------------------

asio::awaitable<void> ClientConnection::reader() {
  input_.resize(words_for(initial_input_bytes));
  try {
    while (!closing_.load(std::memory_order_relaxed)) {
      if (!co_await read_more()) break;
      if (!dispatch_frames()) break;
    }
  } catch (const std::exception& exception) {
    // The Session threw: a bug, but one connection's, so only it goes.
    logger_.error("net", "session of {} threw: {}", remote_host_, exception.what());
    fail(errc::internal, "internal error");
  }
  if (closing_.load(std::memory_order_relaxed) && socket_.is_open()) {
    observe_close();
    co_await drain();
  } else {
    close_after_flush();  // EOF or a socket error: flush what we can, then finish
    observe_close();
  }
  reader_done_ = true;
  if (writer_done_) timer_.cancel();
}

asio::awaitable<bool> ClientConnection::read_more() {
  std::size_t capacity = input_.size() * sizeof(std::uint64_t);
  if (input_begin_ == input_end_) {
    input_begin_ = input_end_ = 0;
    if (capacity > retained_input_bytes) {
      input_.assign(words_for(initial_input_bytes), 0);
      input_.shrink_to_fit();
      capacity = input_.size() * sizeof(std::uint64_t);
    }
  }
  auto* bytes = reinterpret_cast<std::uint8_t*>(input_.data());
  std::size_t needed = proto::frame_header_bytes;  // what the first unread frame needs
  if (input_end_ - input_begin_ >= proto::frame_header_bytes) {
    needed += proto::decode_frame_length(bytes + input_begin_);  // <= max: checked by dispatch
  }
  if (input_begin_ + needed > capacity) {
    // Compact; then grow if the frame still does not fit.
    std::memmove(bytes, bytes + input_begin_, input_end_ - input_begin_);
    input_end_ -= input_begin_;
    input_begin_ = 0;
    if (needed > capacity) {
      input_.resize(words_for(std::max(
          needed, std::min<std::size_t>(2 * capacity,
                                        proto::frame_header_bytes + options_.max_frame_bytes))));
      bytes = reinterpret_cast<std::uint8_t*>(input_.data());
      capacity = input_.size() * sizeof(std::uint64_t);
    }
  }
  auto [error, count] = co_await socket_.async_read_some(
      asio::buffer(bytes + input_end_, capacity - input_end_), use_nothrow);
  if (error) {
    if (error != asio::error::eof && error != asio::error::operation_aborted) {
      logger_.debug("net", "read from {} failed: {}", remote_host_, error.message());
    }
    co_return false;
  }
  input_end_ += count;
  co_return true;
}

bool ClientConnection::dispatch_frames() {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(input_.data());
  while (input_end_ - input_begin_ >= proto::frame_header_bytes) {
    std::uint32_t length = proto::decode_frame_length(bytes + input_begin_);
    if (length > options_.max_frame_bytes) {
      fail(errc::frame_too_large, fmt::format("frame of {} bytes exceeds the limit of {} bytes",
                                              length, options_.max_frame_bytes));
      return false;
    }
    if (length == 0) {
      fail(errc::malformed, "frame length is 0");
      return false;
    }
    if (input_end_ - input_begin_ < proto::frame_header_bytes + length) return true;
    const std::uint8_t* payload = bytes + input_begin_ + proto::frame_header_bytes;
    input_begin_ += proto::frame_header_bytes + length;
    last_frame_time_ = Clock::now();
    if (!session_) continue;  // a rejected connection: discard
    if (reinterpret_cast<std::uintptr_t>(payload) % alignof(std::uint64_t) != 0) {
      if (aligned_.size() < words_for(length)) aligned_.resize(words_for(length));
      std::memcpy(aligned_.data(), payload, length);
      payload = reinterpret_cast<const std::uint8_t*>(aligned_.data());
    }
    session_->on_frame(std::span<const std::uint8_t>(payload, length));
    if (closing_.load(std::memory_order_relaxed)) return false;
  }
  return true;
}

asio::awaitable<void> ClientConnection::drain() {
  std::size_t discarded_bytes = 0;
  auto buffer = asio::buffer(input_.data(), input_.size() * sizeof(std::uint64_t));
  while (discarded_bytes < options_.linger_bytes_max) {
    auto [error, count] = co_await socket_.async_read_some(buffer, use_nothrow);
    if (error) break;
    discarded_bytes += count;
  }
  if (discarded_bytes >= options_.linger_bytes_max) {
    asio::error_code ignored;
    socket_.close(ignored);
  }
}

// --- writer ----------------------------------------------------------------------------------

asio::awaitable<void> ClientConnection::writer() {
  bool write_failed = false;
  for (;;) {
    bool close_requested = false;
    {
      std::lock_guard lock(mutex_);
      writing_.swap(pending_);  // writing_ was empty, so pending_ is now empty
      in_flight_bytes_ = writing_.size();
      close_requested = closing_.load(std::memory_order_relaxed);
    }
    if (close_requested) observe_close();
    if (writing_.empty()) {
      if (close_requested) break;
      auto [error, rang] = co_await doorbell_.async_receive(use_nothrow);
      if (error) break;
      continue;
    }
    // Group commit: these bytes may reveal store writes still in the WAL buffer (SendAcks,
    // pushes); the first writer after a burst writes them all out, the others find it done.
    if (Error durable = service_.make_durable()) {
      logger_.error("net", "not writing to {}: {}", remote_host_, durable.message);
      std::lock_guard lock(mutex_);
      closing_ = true;
      write_failed = true;
      break;
    }
    auto [error, count] = co_await asio::async_write(socket_, asio::buffer(writing_), use_nothrow);
    writing_.clear();
    if (writing_.capacity() > retained_output_bytes) std::vector<std::uint8_t>().swap(writing_);
    {
      std::lock_guard lock(mutex_);
      in_flight_bytes_ = 0;
      if (error) closing_ = true;
    }
    if (error) {
      if (error != asio::error::operation_aborted) {
        logger_.debug("net", "write to {} failed: {}", remote_host_, error.message());
      }
      write_failed = true;
      break;
    }
  }
  asio::error_code ignored;
  if (write_failed || reader_done_) {
    socket_.close(ignored);
  } else {
    // Everything is flushed: send FIN, and let the reader drain the peer's bytes until it
    // closes too, within the linger bounds.
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    phase_ = Phase::lingering;
    linger_deadline_ = Clock::now() + options_.linger_timeout;
  }
  writer_done_ = true;
  timer_.cancel();
}

// --- watchdog --------------------------------------------------------------------------------

asio::awaitable<void> ClientConnection::watchdog() {
  using namespace asio::experimental::awaitable_operators;
  while (!(reader_done_ && writer_done_)) {
    timer_.expires_at(deadline());
    if (phase_ == Phase::open) {
      // The bell brings close requests from other threads even when the reader and the
      // writer are both blocked on the socket.
      auto woken =
          co_await (timer_.async_wait(use_nothrow) || close_bell_.async_receive(use_nothrow));
      if (woken.index() == 1) observe_close();  // the bell rang
    } else {
      co_await timer_.async_wait(use_nothrow);
    }
    if (reader_done_ && writer_done_) break;
    // A bell token can be lost when the timer and the bell complete together; the flag is not.
    if (closing_.load(std::memory_order_relaxed)) observe_close();
    if (Clock::now() < deadline()) continue;
    switch (phase_) {
      case Phase::open:
        logger_.debug("net", "{} idle for {} ms", remote_host_, options_.idle_timeout.count());
        fail(errc::idle_timeout,
             fmt::format("no frame received for {} ms; reconnect", options_.idle_timeout.count()));
        observe_close();
        break;
      case Phase::flushing:
      case Phase::lingering: {
        // The peer does not read (flushing) or does not close (lingering): close hard.
        asio::error_code ignored;
        socket_.close(ignored);
        // Wait for the reader and the writer to notice; they cancel the timer when done.
        timer_.expires_at(Clock::time_point::max());
        if (!(reader_done_ && writer_done_)) co_await timer_.async_wait(use_nothrow);
        break;
      }
    }
  }
}

}  // namespace qim::net
