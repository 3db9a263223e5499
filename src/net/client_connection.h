#pragma once
// Client TCP connections: each ClientConnection holds one socket, its framing, its bounded
// outbound queue and the Session (protocol logic) that it owns; the ConnectionShard of an I/O
// thread holds what its connections share. Speaks nothing beyond the u32 length prefix; on a
// TLS port every byte goes through the connection's TlsStream (receive() and transmit()), so
// neither the framing nor the Session knows. On a WebSocket port the connection first answers
// one HTTP request (the upgrade, a static file or an error), then carries each frame's payload
// as one binary WebSocket message instead of behind the length prefix; the Session sees the
// same payloads and frames either way.
//
// Memory is the design constraint: a server holds many idle connections, so an idle one costs
// only its ClientConnection object. It has no read buffer, no output buffer, no timer, no
// pending Asio operation and no coroutine frame; those exist per shard, or only while a
// connection has something to do.
#include <asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "net/client_counters.h"
#include "net/tls_context.h"
#include "net/tls_stream.h"
#include "net/ws_handshake.h"
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
  // Clients ping at the heartbeat interval the node advertises (qimd derives this from it).
  std::chrono::milliseconds idle_timeout{7'000};
  // How long close_after_flush() may take to flush before the socket is closed hard.
  std::chrono::milliseconds flush_timeout{5'000};
  // After our FIN, how long we keep draining the peer's bytes so the kernel does not answer
  // them with a reset that could destroy our last frame (the Error) in the peer's buffers.
  std::chrono::milliseconds linger_timeout{1'000};
  // At most this many bytes are discarded while closing.
  std::size_t linger_bytes_max = 1024 * 1024;
  // run_blocking() jobs in flight per connection; one more closes it (a client pipelining
  // logins must not queue unbounded password hashing). begin_async() jobs are bounded by the
  // Session instead.
  std::size_t max_blocking_jobs = 8;
  // WebSocket ports: who may open a WebSocket, and where the browser client's files are
  // (empty: none are served).
  WsPolicy ws;
  std::string web_root;
};

// How a client port speaks: native (u32 length prefix, over TLS or not) or WebSocket.
enum class ClientTransport : std::uint8_t { native, ws, wss };
inline constexpr std::size_t client_transport_count = 3;

class ConnectionShard;

// std::mutex is 40 bytes; this one is 4 (a futex word: 0 free, 1 locked, 2 locked with
// waiters), which matters at one per connection.
class SmallMutex {
 public:
  void lock() {
    std::uint32_t state = 0;
    if (state_.compare_exchange_strong(state, 1, std::memory_order_acquire)) return;
    if (state != 2) state = state_.exchange(2, std::memory_order_acquire);
    while (state != 0) {
      state_.wait(2, std::memory_order_relaxed);
      state = state_.exchange(2, std::memory_order_acquire);
    }
  }
  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

// Intrusive links: a connection is in exactly one of its shard's lists, so neither a list nor
// a move between lists allocates.
struct ListHook {
  ListHook* prev = this;
  ListHook* next = this;

  bool linked() const { return next != this; }
  void unlink() {
    prev->next = next;
    next->prev = prev;
    prev = next = this;
  }
  // REQUIRES: `node` is not linked; `this` is a list head.
  void push_back(ListHook& node) {
    node.prev = prev;
    node.next = this;
    prev->next = &node;
    prev = &node;
  }
};

// Implements session::Connection over a TCP socket in its shard's readiness set.
//
// Ownership: created and destroyed by its ConnectionShard (on the shard's io_context), which
// keeps it in a list while it lives. It owns the Session. All members are used on that
// io_context's thread, except those marked otherwise.
//
// Life: open (reads frames and hands them to the Session) -> flushing (a close was requested:
// writes what is queued, discards what it reads) -> lingering (everything written, FIN sent:
// discards until the peer closes) -> done (socket closed, Session told). The shard's sweep
// ends a phase that takes too long: idle timeout, flush bound, linger bound.
//
// Reading: level-triggered readiness, one read per readiness event into the shard's buffer;
// complete frames are handed over from there (8-byte aligned: copied when a payload is not).
// Only an incomplete frame is kept, in a buffer of its own that lives until it completes.
//
// Writing: send() appends to a pending buffer under the mutex and wakes the I/O thread, which
// swaps the whole buffer out and writes it with as few system calls as the socket allows. The
// buffers exist only while there is output.
//
// Lifetime scheme (no shared ownership):
//   - Other threads reach this object only through send() and close_after_flush(), and only
//     while the Session is registered with the service; the Session unregisters in on_close(),
//     which the connection calls when it is done, before it can go away. The service
//     guarantees that no call starts after on_close() returns (SessionRegistry calls us under
//     its shard mutex).
//   - Those calls wake the I/O thread by posting a handler that holds `this`; at most one is
//     outstanding (wake_posted_), and the connection is not destroyed while it is.
//   - run_blocking() and begin_async() jobs hold `this`; they are counted, and the connection
//     is not destroyed until the count is zero. Their continuations are dropped once the
//     connection is closing.
//   - If the io_context is destroyed first (forced shutdown), the shard destroys what is left
//     and the destructor calls on_close().
class ClientConnection final : public session::Connection, private ListHook {
 public:
  ~ClientConnection() override;

  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  // session::Connection. send() and close_after_flush() are thread-safe.
  bool send(std::span<const std::uint8_t> frame) override;
  void close_after_flush() override;
  const std::string& remote_host() const override { return remote_host_; }
  void run_blocking(std::function<void()> work, std::function<void()> then) override;
  Completion begin_async() override;

  // Shutdown, step 1 (on the I/O thread): a connection that is not closing yet gets
  // Error{code, message} and close_after_flush().
  void close_with_error(errc code, std::string_view message);
  // Shutdown, step 2 (on the I/O thread): closes the socket now.
  void abort();

 private:
  friend class ConnectionShard;
  enum class Phase : std::uint8_t { open, flushing, lingering, done };
  struct Outbound;
  struct PartialFrame;
  struct WebSocket;

  ClientConnection(ConnectionShard& shard, int fd, std::string remote_host, bool rejected,
                   std::unique_ptr<TlsStream> tls, ClientTransport transport);

  // Creates the Session, or with `reject` only tells the peer why it is refused and closes.
  void start(const std::optional<Error>& reject);
  // The socket's readiness (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP bits).
  void on_io(std::uint32_t events);
  // Reads once; hands complete frames to the Session, or discards when closing.
  void on_readable();
  // Hands every complete frame in buffer[0, size) to the Session and keeps an incomplete rest.
  void dispatch(std::uint8_t* buffer, std::size_t size);
  void deliver(std::span<const std::uint8_t> payload);
  // WebSocket port: reads once; the HTTP request until it is answered, then frames.
  void on_ws_readable();
  void answer_http(std::span<const std::uint8_t> input);
  // Hands every complete message to the Session and answers control frames.
  void ws_feed(std::span<std::uint8_t> input);
  // Queues bytes as they are (HTTP responses, WebSocket control frames), past the queue cap
  // (they are bounded) but not once the connection is done.
  void queue_raw(std::span<const std::uint8_t> bytes);
  void queue_raw(std::string_view bytes) {
    queue_raw({reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()});
  }
  // Ends an upgraded WebSocket with a close frame saying why, after what is queued.
  void ws_close(std::uint16_t code, std::string_view reason);
  // The peer will send nothing more (EOF or a read error).
  void read_done();
  // recv(2)/send(2) through TLS when the port speaks it: a count, 0 for EOF (receive), or -1
  // with errno set (EAGAIN: wait for the readiness update_interest() registers).
  ssize_t receive(std::uint8_t* buffer, std::size_t size);
  ssize_t transmit(const std::uint8_t* buffer, std::size_t size);
  // On a TLS port, before the first TLS read: a peer whose first byte does not start a TLS
  // handshake speaks plaintext; it is told so in plaintext and closed. False: wait for input.
  bool check_first_byte();
  // Writes pending output until it is all written or the socket is full.
  void flush();
  // Everything queued before a close request is written.
  void flushed();
  // The posted wake-up: flushes and notices a close request.
  void on_wake();
  void post_wake();
  // Registers the readiness we wait for: input while reading, output while the socket is full.
  void update_interest();

  // Counts one job whose continuation comes back later (`pool`: one run on the blocking pool);
  // false when closing, or (and the connection closing) when a pool job would exceed
  // max_blocking_jobs.
  bool reserve_job(bool pool);
  // Any thread: runs `then` on the I/O thread unless closing, and uncounts the job.
  void finish_job(std::function<void()> then, bool pool);

  // I/O thread: notes that a close was requested and starts the flush bound.
  void observe_close();
  // Pushes Error{code, message} and closes after flushing.
  void fail(errc code, std::string_view message);
  // Idle timeout (from the shard's sweep).
  void idle_out();
  // Closes the socket, tells the Session, and lets the shard free this object once nothing
  // holds it any more. Idempotent.
  void finish();
  void maybe_free();

  ConnectionShard& shard_;
  const std::string remote_host_;

  // Outbound queue. GUARDED_BY(mutex_): out_ (its existence, pending, in_flight),
  // wake_posted_; closing_ is written under it and read anywhere.
  std::unique_ptr<Outbound> out_;
  SmallMutex mutex_;
  std::atomic<bool> closing_{false};
  bool wake_posted_ = false;

  // I/O thread only below (ordered to pack).
  Phase phase_ = Phase::open;
  bool reading_ = true;  // the peer may still send (no EOF, no read error)
  int fd_;
  std::uint32_t blocking_jobs_ = 0;  // run_blocking() and begin_async() jobs in flight
  std::uint32_t pool_jobs_ = 0;      // of which run_blocking(), bounded by max_blocking_jobs
  std::uint32_t drained_bytes_ = 0;  // discarded since closing began
  bool write_blocked_ = false;       // the socket is full: waiting for output readiness
  bool rejected_;                    // no Session: the peer is only told why
  bool session_closed_ = false;      // on_close() was called
  std::uint8_t interest_;            // readiness registered with the shard's set
  // open: when the last frame was received; flushing and lingering: the phase's deadline.
  std::chrono::steady_clock::time_point mark_;
  bool first_byte_checked_ = false;  // TLS port: check_first_byte() has decided
  ClientTransport transport_;
  bool tls_read_wants_write_ = false;      // a TLS read waits for output readiness
  bool tls_write_wants_read_ = false;      // write_blocked_ waits for input readiness (handshake)
  std::unique_ptr<PartialFrame> partial_;  // the incomplete frame at the end of the input
  std::unique_ptr<TlsStream> tls_;         // null on a plaintext port
  std::unique_ptr<WebSocket> ws_;          // null on a native port
  std::optional<session::Session> session_;
};

// What the client connections of one io_context share: the readiness set (an epoll instance
// that the io_context's reactor watches, so a connection waits without an Asio operation of
// its own), the read buffer, the sweep for timeouts and the lists of connections. An Asio
// service of that io_context, so that whatever is left when the io_context is destroyed is
// destroyed with it. At most one per io_context.
//
// Threads: everything runs on the io_context's thread, except hand_over() and the counters.
class ConnectionShard final : public asio::execution_context::service {
 public:
  static asio::execution_context::id id;

  // Created with asio::make_service<ConnectionShard>(context, context, ...).
  ConnectionShard(asio::execution_context& owner, asio::io_context& context,
                  qim::service::ImService& service, asio::thread_pool& blocking_pool,
                  core::Logger& logger, const ConnectionOptions& options);
  ~ConnectionShard() override;

  asio::io_context& context() { return context_; }

  // Any thread: takes ownership of an accepted, non-blocking socket, to be served on this
  // shard (with `reject`: only told why it is refused, then closed), over TLS with `tls`
  // unless it is null. Counted from now on.
  void hand_over(int fd, std::string remote_host, std::optional<Error> reject,
                 std::shared_ptr<const TlsContext> tls,
                 ClientTransport transport = ClientTransport::native);

  // I/O thread: calls visit(ClientConnection&) for every connection not yet done. A visit may
  // end the connection it is given.
  template <typename Visit>
  void for_each(Visit visit) {
    std::vector<ClientConnection*> connections;
    for (ListHook* list : {&open_, &closing_}) {
      for (ListHook* node = list->next; node != list; node = node->next)
        connections.push_back(static_cast<ClientConnection*>(node));
    }
    for (ClientConnection* connection : connections) {
      if (connection->phase_ != ClientConnection::Phase::done) visit(*connection);
    }
  }

  // Any thread: connections handed over and not yet destroyed, with a Session / rejected.
  std::size_t live_connections() const { return live_.load(std::memory_order_relaxed); }
  std::size_t rejecting_connections() const { return rejecting_.load(std::memory_order_relaxed); }
  // Any thread: live connections of one transport.
  std::size_t live_connections(ClientTransport transport) const {
    return live_by_transport_[static_cast<std::size_t>(transport)].load(std::memory_order_relaxed);
  }
  // Any thread: the node is shutting down (WebSockets then close with 1001, going away).
  void begin_shutdown() { stopping_.store(true, std::memory_order_relaxed); }
  // Any thread: this shard's traffic counters.
  const ClientCounters& counters() const { return counters_; }

 private:
  friend class ClientConnection;

  void shutdown() override;

  void adopt(int fd, std::string remote_host, std::optional<Error> reject,
             const std::shared_ptr<const TlsContext>& tls, ClientTransport transport);
  // Waits for the readiness set to have events, then hands them to their connections.
  void watch();
  void on_ready();
  // The sweep: timer ticks while there are connections.
  void arm_timer();
  void on_tick();
  void to_closing(ClientConnection& connection);
  void to_done(ClientConnection& connection);
  // The connection is done and nothing holds it: destroyed after the current handler.
  void free(ClientConnection& connection);
  void reap();
  void destroy_all();

  // The shard's read buffer, 8-byte aligned.
  std::uint8_t* scratch() { return reinterpret_cast<std::uint8_t*>(scratch_.get()); }
  // An 8-byte-aligned copy of `payload`, valid until the next call.
  std::span<const std::uint8_t> aligned_copy(std::span<const std::uint8_t> payload);

  asio::io_context& context_;
  qim::service::ImService& service_;
  asio::thread_pool& blocking_pool_;
  core::Logger& logger_;
  const ConnectionOptions options_;
  const std::chrono::steady_clock::duration tick_;        // the sweep's period
  const std::chrono::steady_clock::duration idle_sweep_;  // how often open ones are checked
  int epoll_fd_ = -1;                                     // owned by ready_
  std::optional<asio::posix::stream_descriptor> ready_;
  std::optional<asio::steady_timer> timer_;
  bool timer_armed_ = false;
  bool reap_posted_ = false;
  std::chrono::steady_clock::time_point next_idle_sweep_;
  ListHook open_;     // phase open
  ListHook closing_;  // flushing or lingering
  ListHook done_;     // done, still held by a posted handler or a job
  ListHook freed_;    // done, destroyed by reap()
  std::unique_ptr<std::uint64_t[]> scratch_;
  std::vector<std::uint64_t> aligned_;
  std::atomic<std::size_t> live_{0};
  std::atomic<std::size_t> rejecting_{0};
  std::array<std::atomic<std::size_t>, client_transport_count> live_by_transport_{};
  std::atomic<bool> stopping_{false};
  ClientCounters counters_;
};

}  // namespace qim::net
