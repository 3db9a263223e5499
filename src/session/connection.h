#pragma once
// The seam between a client session (protocol logic, no Asio) and the I/O shell that owns the
// socket. net/ implements Connection; session/ implements Session and only sees this.
#include <cstdint>
#include <functional>
#include <span>
#include <string>

namespace qim::session {

// The shell's side of one client connection.
// Thread-safety: send() and close_after_flush() may be called from any thread (other
// sessions push to this one); the rest only from the connection's executor.
class Connection {
 public:
  virtual ~Connection() = default;

  // Queues one whole frame (length prefix included) for sending; the shell batches queued
  // frames into as few socket writes as it can. Returns false when the bounded outbound queue
  // is full: the shell then pushes Error{SlowConsumer} and closes the connection (the client
  // resyncs by seq after reconnecting). Never blocks.
  virtual bool send(std::span<const std::uint8_t> frame) = 0;

  // Stops reading, flushes what is queued, then closes. Idempotent.
  virtual void close_after_flush() = 0;

  // The peer's IP address as text ("127.0.0.1"), for per-address limits and logs.
  virtual const std::string& remote_host() const = 0;

  // Runs `work` off the I/O threads (CPU-heavy work such as password hashing), then `then`
  // on the connection's executor. If the connection closes meanwhile, `then` is dropped
  // without being called; the Session is still alive whenever `then` runs.
  virtual void run_blocking(std::function<void()> work, std::function<void()> then) = 0;

  // For work that completes elsewhere (a query to other nodes): returns a completion that must
  // be called exactly once, from any thread, with the continuation to run on the connection's
  // executor (dropped if the connection has closed by then). The connection stays alive until
  // the completion is called. Returns an empty function when the connection is closing. Not
  // bounded here: the Session bounds its requests in flight elsewhere (and answers RateLimited
  // beyond that, keeping the connection).
  using Completion = std::function<void(std::function<void()>)>;
  virtual Completion begin_async() = 0;
};

}  // namespace qim::session
