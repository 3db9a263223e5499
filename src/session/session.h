#pragma once
// One client session: decodes each verified frame, checks the session state (Hello first,
// login before most requests, the per-session write rate), calls the IM service and encodes
// the reply. Exactly one reply per request, echoing its req_id.
//
// Ownership and threading: owned by the I/O shell, one per connection; every method runs on
// the connection's executor (never concurrently). The service and the connection outlive it.
// Password hashing runs through Connection::run_blocking; its continuation runs on the
// executor while the session is alive, or not at all. Writes are asynchronous service calls
// (commands proposed to a partition's log): one answered during the call is replied at once,
// one answered later through Connection::begin_async, counted with the requests that wait for
// other nodes. A session's writes are proposed in the order they arrive.
#include <cstdint>
#include <list>
#include <span>
#include <string>
#include <vector>

#include "auth/token.h"
#include "core/token_bucket.h"
#include "proto/frame.h"
#include "service/im_service.h"
#include "session/async_reply.h"
#include "session/connection.h"

namespace qim::session {

inline constexpr std::string_view server_version = "qimd 0.1.0";

class Session {
 public:
  Session(service::ImService& service, Connection& connection);
  // A session that serves requests of `caller`, logged in at another node or on another
  // thread of this one (session/detached.h): not registered, never forwards again.
  Session(service::ImService& service, Connection& connection, const service::Caller& caller);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // One frame payload (the bytes after the u32 length prefix), not yet verified.
  // REQUIRES: payload.data() is 8-byte aligned.
  void on_frame(std::span<const std::uint8_t> payload);
  // One request of a detached session (no Hello, already logged in).
  // REQUIRES: payload.data() is 8-byte aligned.
  void on_detached_frame(std::span<const std::uint8_t> payload);
  // The connection is gone (or going); called exactly once before destruction. Unregisters
  // the session (and takes the user offline if this was their last session).
  void on_close();

  bool logged_in() const { return !user_.empty(); }
  const std::string& user() const { return user_; }
  std::uint64_t session_id() const { return session_id_; }

 private:
  enum class State { awaiting_hello, open, closing };

  service::Caller caller() const { return {user_, device_, session_id_}; }
  void dispatch(std::uint32_t req_id, const wire::Envelope& envelope);

  // Cluster routing (session_cluster.cc). Where a request runs: here on this thread, here on
  // the blocking pool (it may wait for other nodes), or at the home of `key`.
  struct Route {
    std::string key;  // a placement key; empty when the request has none
    bool blocking = false;
  };
  Route route_of(const wire::Envelope& envelope, const route::Placement& placement) const;
  // In a cluster: forwards the request, queues it for the blocking pool, or refuses it
  // (Unavailable); true when it did one of those and the handler must not run here.
  bool routed_elsewhere(std::uint32_t req_id, const wire::Envelope& envelope);
  void forward(std::uint32_t req_id, const std::string& node);
  // For a request answered by other nodes: the connection's completion, counted while the
  // answer is awaited; empty (after replying RateLimited) beyond max_remote_in_flight when
  // `bounded`, or when the connection is closing.
  Connection::Completion begin_remote(std::uint32_t req_id, bool bounded = true);

  // An asynchronous service call: start(done) makes it, handing `done` to the service; reply
  // gets its value on the executor, exactly once (not at all if the connection closes first).
  // Refused with RateLimited beyond max_remote_in_flight.
  template <typename Value, typename Start, typename Reply>
  void call(std::uint32_t req_id, Start start, Reply reply);
  // After a call was made elsewhere (on the blocking pool): replies at once if its value came,
  // otherwise when it comes.
  template <typename Value, typename Reply>
  void resume(std::uint32_t req_id, std::shared_ptr<AsyncReply<Value>> slot, Reply reply);
  // Requests queued for the blocking pool run one at a time, in arrival order.
  void run_next_blocking();
  // False (after replying) when the session is not logged in.
  bool require_login(std::uint32_t req_id);
  // False (after replying RateLimited) when the write budget is spent.
  bool take_write_budget(std::uint32_t req_id);

  // Latency of requests answered by this session (not detached ones: their own session
  // times them), from dispatch to the reply with the same req_id. Bounded: beyond
  // max_timed_requests in flight, new ones are not timed.
  struct Timing {
    std::uint32_t req_id = 0;
    std::uint8_t operation = 0;
    std::int64_t start_ns = 0;
  };
  static constexpr std::size_t max_timed_requests = 32;
  void start_timing(std::uint32_t req_id, std::uint8_t operation);
  void finish_timing(std::span<const std::uint8_t> frame);

  // Replies.
  void send_frame(std::span<const std::uint8_t> frame);
  void send_error(std::uint32_t req_id, errc code, std::string_view message);
  void send_error(std::uint32_t req_id, const Error& error) {
    send_error(req_id, error.code, error.message);
  }
  void send_ok(std::uint32_t req_id);
  // Replies Ok or the error.
  void send_status(std::uint32_t req_id, const Error& error);
  void close_with_error(std::uint32_t req_id, errc code, std::string_view message);

  // Handlers, by area (session_auth.cc, session_messages.cc, session_social.cc).
  void on_hello(std::uint32_t req_id, const wire::Hello& request);
  void on_register(std::uint32_t req_id, const wire::Register& request);
  void on_login(std::uint32_t req_id, const wire::Login& request);
  void on_logged_in(std::uint32_t req_id, const service::Result<service::LoginSuccess>& result);
  // Answers Redirect when `user`'s home is another node; false when it is this one.
  bool redirect_if_elsewhere(std::uint32_t req_id, std::string_view user);
  void send_online_page(std::uint32_t req_id, const service::OnlinePage& page);
  void on_logout(std::uint32_t req_id, const wire::Logout& request);
  void on_change_password(std::uint32_t req_id, const wire::ChangePassword& request);
  void on_ping(std::uint32_t req_id, const wire::Ping& request);

  void on_send(std::uint32_t req_id, const wire::Send& request);
  void on_ack(std::uint32_t req_id, const wire::Ack& request);
  void on_sync(std::uint32_t req_id);
  void on_pull(std::uint32_t req_id, const wire::Pull& request);
  void on_history(std::uint32_t req_id, const wire::History& request);
  void send_batch(std::uint32_t req_id, const service::MessagePage& page);

  void on_friend(std::uint32_t req_id, wire::Body type, const flatbuffers::String* user);
  void on_friend_list(std::uint32_t req_id);
  void on_group_create(std::uint32_t req_id, const wire::GroupCreate& request);
  void on_group_add(std::uint32_t req_id, const wire::GroupAdd& request);
  void on_group_remove(std::uint32_t req_id, const wire::GroupRemove& request);
  void on_group_set_role(std::uint32_t req_id, const wire::GroupSetRole& request);
  void on_group_leave(std::uint32_t req_id, const wire::GroupLeave& request);
  void on_group_dissolve(std::uint32_t req_id, const wire::GroupDissolve& request);
  void on_group_members(std::uint32_t req_id, const wire::GroupMembers& request);
  void on_my_groups(std::uint32_t req_id);
  void on_online_users(std::uint32_t req_id, const wire::OnlineUsers& request);

  service::ImService& service_;
  Connection& connection_;
  const std::uint64_t session_id_;
  const bool detached_ = false;
  // The frame being dispatched (what a forwarded request carries to the key's home).
  std::span<const std::uint8_t> current_payload_;
  struct Queued {
    std::uint32_t req_id;
    std::vector<std::uint8_t> payload;
  };
  static constexpr std::size_t max_queued_blocking = 64;
  // Usually empty, and an empty std::list allocates nothing (an empty std::deque ~600 bytes).
  std::list<Queued> blocking_queue_;
  bool blocking_busy_ = false;
  // Requests waiting for other nodes' answers (forwarded ones, cluster-wide queries): a client
  // may pipeline sends and acks, and beyond this bound it is asked to wait, not disconnected.
  static constexpr std::uint32_t max_remote_in_flight = 256;
  std::uint32_t remote_in_flight_ = 0;
  State state_ = State::awaiting_hello;
  std::vector<Timing> timings_;  // requests being timed, oldest first
  bool closed_ = false;          // on_close ran
  // A Register, Login or ChangePassword is hashing off-thread; others wait for it.
  bool auth_in_flight_ = false;
  std::string user_;  // empty until logged in
  std::string device_;
  auth::TokenDigest token_digest_{};
  core::TokenBucket write_budget_;

  // Every reply is built and handed to the connection before the next one starts, so the
  // sessions of a thread share that thread's builder and its buffer instead of holding one
  // each (a server holds many idle sessions).
  class SharedBuilder {
   public:
    flatbuffers::FlatBufferBuilder& fbb() { return builder().fbb(); }
    void reset() { builder().reset(); }
    template <typename T>
    std::span<const std::uint8_t> finish(std::uint32_t req_id, flatbuffers::Offset<T> body) {
      return builder().finish(req_id, body);
    }
    std::span<const std::uint8_t> error(std::uint32_t req_id, errc code, std::string_view message) {
      return builder().error(req_id, code, message);
    }
    operator proto::FrameBuilder&() { return builder(); }

   private:
    static proto::FrameBuilder& builder();
  };
  [[no_unique_address]] SharedBuilder builder_;  // reused for every reply
};

template <typename Value, typename Start, typename Reply>
void Session::call(std::uint32_t req_id, Start start, Reply reply) {
  if (remote_in_flight_ >= max_remote_in_flight) {
    send_error(req_id, errc::rate_limited,
               "too many requests are waiting for other nodes; wait for their answers");
    return;
  }
  auto slot = std::make_shared<AsyncReply<Value>>();
  start([slot](Value value) { slot->deliver(std::move(value)); });
  resume<Value>(req_id, std::move(slot), std::move(reply));
}

template <typename Value, typename Reply>
void Session::resume(std::uint32_t req_id, std::shared_ptr<AsyncReply<Value>> slot, Reply reply) {
  auto ready = slot->take_or([&]() -> std::function<void(Value)> {
    auto complete = begin_remote(req_id, false);
    if (!complete) return {};
    // The connection, and so this Session, lives until `complete` has been called.
    return [this, complete = std::move(complete), reply](Value value) {
      complete([this, reply, value = std::move(value)]() mutable {
        if (state_ != State::closing) reply(std::move(value));
      });
    };
  });
  if (ready && state_ != State::closing) reply(std::move(*ready));
}

}  // namespace qim::session
