#pragma once
// One client connection of the generator: a TCP socket (under TLS 1.3 when Options::tls_context
// is set) framed as u32 length + Envelope, a
// reusable 8-byte-aligned read buffer and an outbound byte buffer that is written with one
// syscall per event-loop turn (Outbox). Set-up uses request/reply with deadlines; in the
// measured phase every frame goes to a FrameSink. Nothing is allocated per message once the
// buffers have grown to their working size.
//
// Ownership: owned by a workload at a stable address (never moved). Every coroutine it starts
// ends after close(), so io_context::run() returns only when they are done. Single-threaded:
// every call on its io_context's thread.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "proto/frame.h"
#include "qim-bench/options.h"
#include "qim/errc.h"

namespace qim::bench {

class BenchConnection;

// Receives the frames of connections that serve().
class FrameSink {
 public:
  // `envelope` is verified and valid only during the call.
  virtual void on_frame(BenchConnection& connection, const wire::Envelope& envelope) = 0;
  virtual void on_closed(BenchConnection& connection, const Error& reason) = 0;
  // After each batch of frames read from one socket read: a good moment to flush writes.
  virtual void on_batch_end() = 0;

 protected:
  ~FrameSink() = default;
};

// Connections with queued bytes, flushed together after each event-loop step, so frames
// queued while handling one read batch leave in one write per connection.
class Outbox {
 public:
  void mark(BenchConnection& connection) { dirty_.push_back(&connection); }
  void flush();

 private:
  std::vector<BenchConnection*> dirty_;
  std::vector<BenchConnection*> flushing_;
};

class BenchConnection {
 public:
  static constexpr std::uint32_t max_frame_bytes = 4 * 1024 * 1024;

  BenchConnection(asio::io_context& io, Outbox& outbox, std::uint32_t index,
                  std::size_t read_buffer_bytes);
  BenchConnection(const BenchConnection&) = delete;
  BenchConnection& operator=(const BenchConnection&) = delete;

  // Connects and, with options.tls_context, completes a TLS handshake (both within
  // connect_timeout), then exchanges Hello/HelloOk (within request_timeout). May be called
  // again after close() to reconnect elsewhere (a Redirect).
  asio::awaitable<Error> open(const Endpoint& endpoint, const Options& options);

  // Sends one frame and waits for the frame echoing `req_id`; pushes in between are skipped.
  // On success `reply` points into the read buffer until the next read on this connection.
  asio::awaitable<Error> call(std::span<const std::uint8_t> frame, std::uint32_t req_id,
                              std::chrono::milliseconds timeout, const wire::Envelope*& reply);

  // Measured phase: appends a whole frame to the outbound buffer (sent at the next flush).
  void queue(std::span<const std::uint8_t> frame);
  // Writes what is queued now; leaves the rest to a writer coroutine if the socket is full.
  void flush();
  // Reads frames and hands them to `sink` until the connection ends.
  asio::awaitable<void> serve(FrameSink& sink);

  // Closes the socket; pending operations end with operation_aborted. With `reset`, the
  // close sends RST (no TIME_WAIT: a login storm would otherwise exhaust local ports).
  void close(bool reset = false);

  // Keeps the server's idle timeout (two of its heartbeat intervals and a second) from closing
  // a connection the benchmark keeps quiet: queues a Ping when nothing was sent for half the
  // interval the server advertised in HelloOk. Not while open() or a call() is under way (they
  // write on their own) or output is pending. True when it queued one.
  bool ping_if_quiet(std::chrono::steady_clock::time_point now);

  bool is_open() const { return socket_.is_open() && !failed_; }
  std::uint32_t index() const { return index_; }
  const Endpoint& endpoint() const { return endpoint_; }
  proto::FrameBuilder& builder() { return builder_; }
  std::uint32_t next_req_id() { return ++last_req_id_ == 0 ? ++last_req_id_ : last_req_id_; }

 private:
  // Reads until one whole frame is buffered; returns its verified envelope (or an error).
  asio::awaitable<Error> read_frame(const wire::Envelope*& envelope);
  // The next buffered frame, if whole: verifies it and consumes it from the buffer.
  // Sets `error` when the bytes are not a valid frame.
  const wire::Envelope* next_buffered_frame(Error& error);
  // Makes room for at least `bytes` more at input_end_ (compacting, then growing).
  void reserve_input(std::size_t bytes);
  void prepare_read();
  asio::awaitable<void> write_rest();
  asio::awaitable<Error> handshake(const Endpoint& endpoint, asio::ssl::context& context,
                                   bool verify, std::chrono::milliseconds timeout);
  // Writes all of `buffer`, through TLS when it is on.
  asio::awaitable<void> write_all(asio::const_buffer buffer, std::error_code& error);

  asio::io_context& io_;
  Outbox& outbox_;
  std::uint32_t index_;
  asio::ip::tcp::socket socket_;
  // Over socket_ while TLS is on; a new one for every open() (a session is never reused, so
  // every connection costs a full handshake).
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls_;
  Endpoint endpoint_;
  proto::FrameBuilder builder_{256};
  std::uint32_t last_req_id_ = 0;
  std::chrono::milliseconds heartbeat_interval_{3'000};
  std::chrono::steady_clock::time_point last_sent_{};
  std::uint64_t pings_ = 0;
  bool calling_ = false;
  bool opening_ = false;  // within open()

  std::vector<std::uint64_t> input_;  // 8-byte aligned storage
  std::size_t input_begin_ = 0;       // unconsumed bytes: [input_begin_, input_end_)
  std::size_t input_end_ = 0;
  std::vector<std::uint64_t> aligned_;  // a payload copied to an aligned address

  std::vector<std::uint8_t> outbound_;  // queued, not yet handed to the socket
  std::vector<std::uint8_t> writing_;   // being written by write_rest()
  bool dirty_ = false;                  // in the outbox's list
  bool writer_active_ = false;
  bool failed_ = false;
};

}  // namespace qim::bench
