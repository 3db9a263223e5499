#pragma once
// The inside of qim::Client (include/qim/client.h): one I/O thread running an io_context, the
// connection, the session and its automatic resumption, retries, and the in-order delivery of
// messages. By concern:
//   client_calls.cc     requests: retries, waiting for a session, the blocking bridge
//   client_session.cc   connect, login, redirects, losing and resuming the session
//   client_delivery.cc  pushes, the DeliveryOrder's pulls and Syncs, acks, backlog
//   client.cc           the public methods
//
// Threads: each blocking method runs a coroutine on the I/O thread and waits for it. The
// members under "I/O thread" are touched only there; the event queue, the session summary and
// the atomics are shared with callers.
#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <fmt/core.h>

#include "client/async_connection.h"
#include "client/delivery_order.h"
#include "client/node_addresses.h"
#include "client/signal.h"
#include "client/wire_codec.h"
#include "qim/client.h"

namespace qim {

// What a call may do when the connection is lost or the server answers Unavailable (see
// "Which calls retry" in qim/client.h).
enum class Retry : std::uint8_t {
  once,        // needs a session (waits while one is resumed); sent at most once
  idempotent,  // needs a session; resent after a loss and after Unavailable/RateLimited
  connection,  // needs only a connection; never waits, never resent
};

class Client::Impl {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using FrameWriter = client::FrameWriter;
  using Frame = client::Frame;

  explicit Impl(ClientOptions options);
  ~Impl();

  // --- Blocking entry points (any thread but the I/O thread) ---------------------------------
  Result<ServerInfo> connect(std::string host, std::uint16_t port);
  void close();
  Result<void> register_user(std::string user, std::string password);
  Result<LoginInfo> login(std::string user, std::string secret, bool use_token, std::string device);
  Result<void> logout(bool all_devices);
  Result<SendAck> send(std::string to_user, std::string to_group, std::string body,
                       std::uint64_t client_msg_id);
  Result<std::uint64_t> deliver_backlog();

  // One request under `retry`, bounded by request_timeout, parsed by `parse(const Frame&)`.
  template <typename T, typename Parse>
  Result<T> blocking(FrameWriter writer, Retry retry, Parse parse) {
    return run<T>(
        [this, writer = std::move(writer), retry, parse]() -> asio::awaitable<Result<T>> {
          auto reply = co_await call(writer, retry, deadline_after(options_.request_timeout));
          if (!reply) co_return reply.error();
          co_return parse(reply.value());
        },
        options_.request_timeout + backstop_margin);
  }
  Result<void> blocking_ok(FrameWriter writer, Retry retry) {
    return blocking<void>(std::move(writer), retry,
                          [](const Frame& frame) { return client::expect_ok(frame); });
  }

  // --- Events ---------------------------------------------------------------------------------
  std::optional<Event> wait_event(const std::function<bool(const Event&)>& match,
                                  std::chrono::milliseconds timeout);
  std::uint64_t dropped_events() const;

  // --- Session summary, readable from any thread ---------------------------------------------
  struct Summary {
    std::string user;
    std::string device;
    std::string token;
    std::string node;
  };
  Summary summary() const;
  bool connected() const { return connected_.load(); }
  bool logged_in() const { return logged_in_.load(); }
  bool reconnecting() const { return reconnecting_.load(); }
  ReconnectStatus reconnect_status() const {
    std::lock_guard lock(reconnect_mutex_);
    ReconnectStatus status = reconnect_status_;
    status.active = reconnecting_.load();
    return status;
  }

  const ClientOptions options_;

 private:
  // A blocking call's own deadline is its bound; this is the backstop should one be missed.
  static constexpr std::chrono::milliseconds backstop_margin{5'000};
  // Conversations with an ack under way at once; beyond, an ack waits for the next message.
  static constexpr std::size_t max_acks_in_flight = 10'000;
  // An ack refused as "beyond the conversation's last message" (the reader's home has not seen
  // the message yet) or Unavailable is tried again, at most this many times.
  static constexpr std::uint32_t max_ack_attempts = 5;

  using Address = client::NodeAddress;
  struct Session {
    std::string user, device, token;
  };

  // Runs `make` (a callable returning awaitable<Result<T>>) on the I/O thread and waits.
  template <typename T, typename Make>
  Result<T> run(Make make, std::chrono::milliseconds backstop) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      return Error{errc::internal, "blocking client call from the client's own I/O thread"};
    }
    auto future = asio::co_spawn(io_, std::move(make), asio::use_future);
    if (future.wait_for(backstop) != std::future_status::ready) {
      return Error{errc::unavailable, "timed out waiting for the client's I/O thread"};
    }
    try {
      return future.get();
    } catch (const std::exception& error) {
      return Error{errc::internal, fmt::format("client error: {}", error.what())};
    }
  }

  // --- Calls (client_calls.cc) ----------------------------------------------------------------
  static TimePoint deadline_after(std::chrono::milliseconds timeout) {
    return std::chrono::steady_clock::now() + timeout;
  }
  // One request under `retry` until `deadline`; an Error reply becomes an Error value.
  // REQUIRES: `writer` is a named object that outlives the awaited call (g++ 12 destroys
  // temporaries in a co_await expression twice).
  // `answered` (optional) is set when the node sent an answer, be it an Error.
  asio::awaitable<Result<Frame>> call(const FrameWriter& writer, Retry retry, TimePoint deadline,
                                      bool* answered = nullptr);
  // The connection of a logged-in session, waiting while one is being resumed.
  asio::awaitable<Result<std::shared_ptr<client::AsyncConnection>>> session_connection(
      TimePoint deadline);
  // Waits `delay` (or less at shutdown).
  asio::awaitable<void> sleep(std::chrono::milliseconds delay);
  std::chrono::milliseconds retry_backoff(std::uint32_t attempt);
  std::chrono::milliseconds jittered(std::chrono::milliseconds delay);

  // --- Session (client_session.cc) ------------------------------------------------------------
  void drop_connection();
  // REQUIRES: `host` outlives the awaited call.
  asio::awaitable<Result<ServerInfo>> open_connection(const std::string& host, std::uint16_t port,
                                                      std::chrono::milliseconds hello_timeout);
  // A request a node may answer with Redirect (Register, Login): follows up to max_redirects
  // of them from the current connection or host_; with `patient`, also repeats Unavailable
  // answers and failed connects with backoff until `deadline`.
  // REQUIRES: `writer` is a named object that outlives the awaited call.
  asio::awaitable<Result<Frame>> call_following_redirects(const FrameWriter& writer,
                                                          std::uint32_t& redirects, bool patient,
                                                          bool announce, TimePoint deadline);
  // Logs in on the current connection or host_. Commits the session only while `generation`
  // is current (a newer connect, login or close supersedes it).
  asio::awaitable<Result<LoginInfo>> login_flow(const std::string& user, const std::string& secret,
                                                bool use_token, const std::string& device,
                                                bool patient, std::uint64_t generation);
  void on_connection_closed(client::AsyncConnection* identity, const Error& reason);
  // Stops the reconnection loop (it ends at its next step).
  void stop_reconnecting();
  void start_reconnecting(bool skip_home);
  asio::awaitable<void> reconnect_loop(std::uint64_t generation, Address home, bool skip_home);
  // After a reconnection's login: waits for its resync (and the follow-ups of failed ones) and
  // emits CaughtUpEvent, counting what was pulled since `before`.
  asio::awaitable<void> report_catch_up(std::uint64_t generation, std::uint64_t resync,
                                        std::uint64_t before);
  std::chrono::milliseconds reconnect_backoff(std::uint32_t attempt);
  // How long a node that did not answer is passed over (client/node_addresses.h).
  std::chrono::milliseconds silence_period() const;
  void set_logged_in(bool value);

  // --- Delivery (client_delivery.cc) ----------------------------------------------------------
  void on_push(const Frame& frame);
  // A SendAck is this session's own message taking its place in the conversation's order.
  void on_reply(const Frame& frame);
  void on_deliver(const wire::Deliver& deliver);
  // Carries out what the DeliveryOrder asks: events, pulls, a Sync, the deadline timer.
  void execute(client::DeliveryDirectives& directives);
  asio::awaitable<void> run_pull(client::DeliveryDirectives::Pull pull);
  asio::awaitable<void> run_sync(std::uint64_t id);
  asio::awaitable<void> delivery_clock();
  void arm_delivery_clock();
  // The session is logged in: pulls may go out; with `resync`, a resync starts. Returns the
  // resync's number (0 without).
  std::uint64_t begin_session_delivery(const Session& session, bool resync);
  void end_session_delivery();
  // Waits until resync `number` is over, or nothing has progressed for request_timeout.
  asio::awaitable<Result<void>> wait_resync(std::uint64_t number);
  void note_ack(const std::string& conversation, std::uint64_t seq);
  asio::awaitable<void> ack_loop(std::string conversation);
  // Waits until no ack is under way, or `deadline`.
  asio::awaitable<void> wait_acks(TimePoint deadline);

  // --- Events ---------------------------------------------------------------------------------
  void emit(Event event);

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;

  // I/O thread state.
  std::shared_ptr<client::AsyncConnection> connection_;
  std::shared_ptr<client::AsyncConnection> opening_;
  std::shared_ptr<asio::ssl::context> tls_context_;  // made by the first TLS connection
  std::shared_ptr<client::ServerPins> pins_;         // with TlsOptions::pin_file
  std::string host_;  // the node of the current or last connection, or a Redirect's target
  std::uint16_t port_ = 0;
  client::NodeAddresses addresses_;  // known nodes, the one connect() was given first
  bool stopping_ = false;
  std::uint64_t generation_ = 0;  // bumped by connect, login, close, logout and each loss
  std::optional<Session> lost_;   // a logged-in session being resumed
  int logins_in_progress_ = 0;
  std::string moved_to_;  // the node a pushed Redirect named, for the DisconnectedEvent
  asio::steady_timer reconnect_timer_;
  client::Signal session_changed_;  // logged in, gave up, lost, closed
  client::Signal progress_;         // the DeliveryOrder answered something
  client::Signal acks_changed_;
  client::Signal shutdown_;  // wakes every sleep at destruction
  std::minstd_rand random_;

  client::DeliveryOrder delivery_;
  std::optional<std::pair<std::string, std::string>> delivery_owner_;  // user, device
  asio::steady_timer delivery_timer_;
  std::uint64_t pulled_delivered_ = 0;  // MessageEvents with from_sync, ever
  std::uint64_t progress_count_ = 0;    // answers the DeliveryOrder got, ever
  struct AckState {
    std::uint64_t wanted = 0;
    std::uint64_t done = 0;
  };
  std::unordered_map<std::string, AckState> acks_;  // with an ack_loop running

  std::atomic<std::uint64_t> next_client_msg_id_{1};
  std::atomic<bool> connected_{false};
  std::atomic<bool> logged_in_{false};
  std::atomic<bool> reconnecting_{false};

  mutable std::mutex reconnect_mutex_;
  ReconnectStatus reconnect_status_;  // GUARDED_BY(reconnect_mutex_)

  mutable std::mutex summary_mutex_;
  Summary summary_;  // GUARDED_BY(summary_mutex_)

  mutable std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::deque<Event> events_;          // GUARDED_BY(events_mutex_)
  std::uint64_t dropped_events_ = 0;  // GUARDED_BY(events_mutex_)
};

}  // namespace qim
