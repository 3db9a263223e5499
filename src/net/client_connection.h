#pragma once
// One client TCP connection: the socket, its framing, its bounded outbound queue and timers,
// and the Session (protocol logic) that it owns. Speaks nothing beyond the u32 length prefix.
#include <asio.hpp>
#include <asio/experimental/concurrent_channel.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "qim/errc.h"
#include "session/connection.h"
#include "session/session.h"

namespace qim::service {
class ImService;
}

namespace qim::net {

struct ConnectionOptions {
  // Largest accepted frame payload (after the length prefix).
  std::uint32_t max_frame_bytes = 64 * 1024;
  // Outbound bytes queued or being written, beyond which the peer is a slow consumer.
  std::size_t session_queue_bytes = 4 * 1024 * 1024;
  // A connection that receives no frame for this long gets Error{IdleTimeout} and is closed.
  std::chrono::milliseconds idle_timeout{90'000};
  // How long close_after_flush() may take to flush before the socket is closed hard.
  std::chrono::milliseconds flush_timeout{5'000};
  // After our FIN, how long we keep draining the peer's bytes so the kernel does not answer
  // them with a reset that could destroy our last frame (the Error) in the peer's buffers.
  std::chrono::milliseconds linger_timeout{1'000};
  // At most this many bytes are discarded while lingering.
  std::size_t linger_bytes_max = 1024 * 1024;
  // run_blocking() jobs in flight per connection; one more closes it (a client pipelining
  // logins must not queue unbounded password hashing).
  std::size_t max_blocking_jobs = 8;
};

// Implements session::Connection over a TCP socket.
//
// Ownership: a ClientConnection lives in the frame of the coroutine that serves the accepted
// socket (ClientListener::serve) and is destroyed when run() has returned. It owns the
// Session. All members are used on the connection's executor (one io_context, one thread),
// except those marked otherwise.
//
// Coroutines: run() = reader() && writer() && watchdog(), then teardown.
//   reader   reads frames into an 8-byte-aligned buffer and hands them to the Session; once
//            the connection is closing it only drains (and discards) the peer's bytes.
//   writer   swaps the whole pending buffer out under the mutex and writes it in one
//            async_write; when closing and empty it sends FIN.
//   watchdog one timer for the idle timeout, the flush bound and the linger bound.
//
// Lifetime scheme (no shared ownership):
//   - Other threads reach this object only through send() and close_after_flush(), and only
//     while the Session is registered with the service; the Session unregisters in on_close(),
//     which run() calls before the object can go away. The service guarantees that no call
//     starts after on_close() returns (SessionRegistry calls us under its shard mutex).
//   - Those calls wake the executor through two concurrent_channels (capacity 1, try_send, no
//     posted lambdas holding `this`), which are members and outlive every waiting coroutine.
//   - run_blocking() jobs capture `this`; they are counted, and run() waits until the count is
//     zero before destroying the Session and returning.
class ClientConnection final : public session::Connection {
 public:
  ClientConnection(asio::ip::tcp::socket socket, service::ImService& service,
                   asio::thread_pool& blocking_pool, core::Logger& logger,
                   const ConnectionOptions& options);
  // Calls session.on_close() if run() could not (the io_context was destroyed with the
  // connection suspended: forced shutdown).
  ~ClientConnection() override;

  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // Serves the connection until it is closed and every blocking job has come back. With
  // `reject`, no Session is created: the peer gets Error{code, message} and is closed.
  asio::awaitable<void> run(std::optional<Error> reject);

  // session::Connection. send() and close_after_flush() are thread-safe.
  bool send(std::span<const std::uint8_t> frame) override;
  void close_after_flush() override;
  const std::string& remote_host() const override { return remote_host_; }
  void run_blocking(std::function<void()> work, std::function<void()> then) override;
  Completion begin_async() override;

  // Shutdown, step 1 (on the executor): a connection that is not closing yet gets
  // Error{code, message} and close_after_flush().
  void close_with_error(errc code, std::string_view message);
  // Shutdown, step 2 (on the executor): closes the socket now; run() then finishes promptly.
  void abort();

 private:
  enum class Phase { open, flushing, lingering };

  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  asio::awaitable<void> watchdog();

  // Reads more bytes into input_; false when the socket is done (EOF, error, closed).
  asio::awaitable<bool> read_more();
  // Hands every complete frame in input_ to the Session. False on a framing error (the
  // connection is then closing).
  bool dispatch_frames();
  // Reads and discards until EOF or the linger bounds.
  asio::awaitable<void> drain();
  // Counts one job whose continuation comes back later (run() waits for all of them); false
  // (and the connection closing) when closing or over max_blocking_jobs.
  bool reserve_job();
  // Any thread: runs `then` on the connection's executor unless closing, and uncounts the job.
  void finish_job(std::function<void()> then);

  // Executor only: notes that a close was requested and starts the flush bound.
  void observe_close();
  // Executor only: the current deadline of the watchdog's timer.
  std::chrono::steady_clock::time_point deadline() const;
  // Pushes Error{code, message} and closes after flushing (protocol-level framing errors,
  // idle timeout, shutdown).
  void fail(errc code, std::string_view message);

  asio::ip::tcp::socket socket_;
  service::ImService& service_;
  asio::thread_pool& blocking_pool_;
  core::Logger& logger_;
  const ConnectionOptions options_;
  const std::string remote_host_;

  // Outbound queue. GUARDED_BY(mutex_): pending_, in_flight_bytes_; closing_ is written under
  // it and read anywhere. Invariant: pending_.size() + in_flight_bytes_ <=
  // options_.session_queue_bytes, except for the one Error frame queued on overflow.
  std::mutex mutex_;
  std::vector<std::uint8_t> pending_;
  std::size_t in_flight_bytes_ = 0;
  std::atomic<bool> closing_{false};

  // Wake-ups from any thread: the writer waits on doorbell_ when it has nothing to write; the
  // watchdog waits on close_bell_ until it has seen the close request.
  // (The bool is only there because Asio 1.22 cannot instantiate void(error_code) alone.)
  using Bell = asio::experimental::concurrent_channel<void(asio::error_code, bool)>;
  Bell doorbell_;
  Bell close_bell_;

  // Executor-only state below.
  std::vector<std::uint8_t> writing_;  // the batch being written; swapped with pending_
  std::vector<std::uint64_t> input_;   // read buffer, 8-byte aligned, grows to a frame
  std::size_t input_begin_ = 0;        // unconsumed bytes are [input_begin_, input_end_)
  std::size_t input_end_ = 0;
  std::vector<std::uint64_t> aligned_;  // copy of a payload that is not 8-byte aligned in input_

  asio::steady_timer timer_;  // the watchdog's
  Phase phase_ = Phase::open;
  std::chrono::steady_clock::time_point last_frame_time_;
  std::chrono::steady_clock::time_point flush_deadline_;
  std::chrono::steady_clock::time_point linger_deadline_;
  bool reader_done_ = false;
  bool writer_done_ = false;

  // run_blocking() jobs and begin_async() completions whose continuation has not come back yet
  std::size_t blocking_jobs_ = 0;
  asio::steady_timer blocking_jobs_done_;

  std::optional<session::Session> session_;
  bool session_closed_ = false;  // on_close() was called
};

}  // namespace qim::net
