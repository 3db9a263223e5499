#include "qim/client.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include <fmt/core.h>

#include "client/async_connection.h"

namespace qim {

const char* friend_state_name(FriendState state) noexcept {
  switch (state) {
    case FriendState::none:
      return "none";
    case FriendState::pending_out:
      return "pending_out";
    case FriendState::pending_in:
      return "pending_in";
    case FriendState::accepted:
      return "accepted";
  }
  return "unknown";
}

const char* group_role_name(GroupRole role) noexcept {
  switch (role) {
    case GroupRole::member:
      return "member";
    case GroupRole::admin:
      return "admin";
    case GroupRole::owner:
      return "owner";
  }
  return "unknown";
}

const char* friend_event_kind_name(FriendEventKind kind) noexcept {
  switch (kind) {
    case FriendEventKind::requested:
      return "requested";
    case FriendEventKind::accepted:
      return "accepted";
    case FriendEventKind::declined:
      return "declined";
    case FriendEventKind::removed:
      return "removed";
  }
  return "unknown";
}

const char* group_event_kind_name(GroupEventKind kind) noexcept {
  switch (kind) {
    case GroupEventKind::added:
      return "added";
    case GroupEventKind::removed:
      return "removed";
    case GroupEventKind::left:
      return "left";
    case GroupEventKind::dissolved:
      return "dissolved";
    case GroupEventKind::role_changed:
      return "role_changed";
  }
  return "unknown";
}

namespace {

using client::AsyncConnection;
using client::Frame;
using FrameWriter = AsyncConnection::FrameWriter;

// Conversations whose delivered seqs this client remembers; beyond it the oldest entry is
// forgotten (a later resync may then show its messages again, which beats unbounded memory).
constexpr std::size_t max_tracked_conversations = 100'000;
// Delivered seqs kept above a gap per conversation before the gap is given up on.
constexpr std::size_t max_seqs_above_gap = 4'096;

// Which seqs of one conversation were already emitted: everything up to `watermark`, plus a
// bounded set above it (live pushes can arrive before the range below them is pulled).
struct DeliveredSeqs {
  std::uint64_t watermark = 0;
  std::set<std::uint64_t> above;

  bool seen(std::uint64_t seq) const { return seq <= watermark || above.contains(seq); }
  void mark(std::uint64_t seq) {
    if (seq <= watermark) return;
    above.insert(seq);
    compact();
  }
  // Everything at or below `floor` counts as delivered (already read, or before joining).
  void raise(std::uint64_t floor) {
    if (floor <= watermark) return;
    watermark = floor;
    above.erase(above.begin(), above.upper_bound(floor));
    compact();
  }
  void compact() {
    while (!above.empty() && *above.begin() == watermark + 1) {
      ++watermark;
      above.erase(above.begin());
    }
    while (above.size() > max_seqs_above_gap) {
      watermark = *above.begin();
      above.erase(above.begin());
      compact();
    }
  }
};

bool is_final_error(errc code) {
  return code == errc::auth_failed || code == errc::account_disabled || code == errc::kicked;
}

Error unexpected_reply(const Frame& frame, const char* expected) {
  return {errc::unexpected_message, fmt::format("expected {} from the server, got {}", expected,
                                                wire::EnumNameBody(frame.envelope->body_type()))};
}

flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> string_vector(
    flatbuffers::FlatBufferBuilder& fbb, const std::vector<std::string>& values) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
  offsets.reserve(values.size());
  for (const auto& value : values)
    offsets.push_back(fbb.CreateString(value));
  return fbb.CreateVector(offsets);
}

Result<void> expect_ok(const Frame& frame) {
  if (frame.envelope->body_type() != wire::Body::Ok) return unexpected_reply(frame, "Ok");
  return {};
}

Result<MessagePage> parse_page(const Frame& frame) {
  const auto* batch = frame.envelope->body_as_MessageBatch();
  if (batch == nullptr) return unexpected_reply(frame, "MessageBatch");
  MessagePage page;
  page.conversation = proto::view(batch->conversation());
  page.more = batch->more();
  if (batch->messages() != nullptr) {
    page.messages.reserve(batch->messages()->size());
    for (const auto* message : *batch->messages()) {
      if (message != nullptr) page.messages.push_back(client::message_from_wire(*message));
    }
  }
  return page;
}

GroupInfo group_info_from_wire(const wire::GroupInfo& info) {
  GroupInfo out;
  out.group = proto::view(info.group());
  out.name = proto::view(info.name());
  out.owner = proto::view(info.owner());
  out.member_count = info.member_count();
  out.role = static_cast<GroupRole>(info.role());
  out.created_ms = info.created_ms();
  return out;
}

FrameWriter pull_writer(std::string conversation, std::uint64_t after_seq, std::uint32_t limit) {
  return [conversation = std::move(conversation), after_seq, limit](proto::FrameBuilder& builder,
                                                                    std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto id = fbb.CreateString(conversation);
    return builder.finish(req_id, wire::CreatePull(fbb, id, after_seq, limit));
  };
}

FrameWriter ack_writer(std::string conversation, std::uint64_t seq) {
  return [conversation = std::move(conversation), seq](proto::FrameBuilder& builder,
                                                       std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto id = fbb.CreateString(conversation);
    return builder.finish(req_id, wire::CreateAck(fbb, id, seq));
  };
}

// A request whose body is one string field (friend and group operations).
template <typename Create>
FrameWriter single_string_writer(std::string value, Create create) {
  return [value = std::move(value), create](proto::FrameBuilder& builder, std::uint32_t req_id) {
    auto& fbb = builder.fbb();
    auto text = fbb.CreateString(value);
    return builder.finish(req_id, create(fbb, text));
  };
}

}  // namespace

// Owns the I/O thread. Everything below "I/O thread state" is touched only on that thread;
// the event queue and the session summary are shared with callers under their mutexes.
class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)),
        work_(asio::make_work_guard(io_)),
        heartbeat_timer_(io_),
        reconnect_timer_(io_),
        random_(std::random_device{}()) {
    // Seeded from the clock so a restarted client does not reuse ids the server remembers.
    next_client_msg_id_ =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    asio::co_spawn(io_, heartbeat_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~Impl() {
    asio::post(io_, [this] {
      stopping_ = true;
      ++reconnect_generation_;
      heartbeat_timer_.cancel();
      reconnect_timer_.cancel();
      drop_connection();
    });
    work_.reset();
    thread_.join();
  }

  // Runs `make` (a callable returning awaitable<Result<T>>) on the I/O thread and waits.
  template <typename T, typename Make>
  Result<T> run(Make make) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      return Error{errc::internal, "blocking client call from the client's own I/O thread"};
    }
    auto future = asio::co_spawn(io_, std::move(make), asio::use_future);
    // Every awaited step has its own deadline; this is the backstop should one be missed.
    auto backstop = options_.request_timeout * (options_.max_redirects + 3) +
                    options_.connect_timeout * (options_.max_redirects + 1);
    if (future.wait_for(backstop) != std::future_status::ready) {
      return Error{errc::unavailable, "timed out waiting for the client's I/O thread"};
    }
    try {
      return future.get();
    } catch (const std::exception& error) {
      return Error{errc::internal, fmt::format("client error: {}", error.what())};
    }
  }

  // One request on the current connection; an Error reply becomes an Error value.
  // REQUIRES: `writer` is a named object that outlives the awaited call (see
  // AsyncConnection::request about g++ 12 and temporaries in co_await expressions).
  asio::awaitable<Result<Frame>> call(const FrameWriter& writer) {
    auto connection = connection_;
    if (!connection || !connection->is_open()) {
      co_return Error{errc::unavailable, "not connected"};
    }
    auto reply = co_await connection->request(writer, options_.request_timeout);
    if (!reply) co_return reply.error();
    if (reply->envelope->body_type() == wire::Body::Error) {
      co_return client::error_from_frame(reply.value());
    }
    co_return std::move(reply).value();
  }

  template <typename T, typename Parse>
  Result<T> blocking(FrameWriter writer, Parse parse) {
    return run<T>([this, writer = std::move(writer), parse]() -> asio::awaitable<Result<T>> {
      auto reply = co_await call(writer);
      if (!reply) co_return reply.error();
      co_return parse(reply.value());
    });
  }

  Result<void> blocking_ok(FrameWriter writer) {
    return blocking<void>(std::move(writer), [](const Frame& frame) { return expect_ok(frame); });
  }

  Result<ServerInfo> connect(std::string host, std::uint16_t port) {
    return run<ServerInfo>([this, host, port]() -> asio::awaitable<Result<ServerInfo>> {
      ++reconnect_generation_;
      reconnect_timer_.cancel();
      set_logged_in(false);
      drop_connection();
      seed_host_ = host;
      seed_port_ = port;
      co_return co_await open_connection(host, port);
    });
  }

  void close() {
    (void)run<bool>([this]() -> asio::awaitable<Result<bool>> {
      ++reconnect_generation_;
      reconnect_timer_.cancel();
      set_logged_in(false);
      drop_connection();
      co_return true;
    });
  }

  // Registration happens at the user's home, so it follows redirects like login does.
  Result<void> register_user(std::string user, std::string password) {
    return run<void>([this, user, password]() -> asio::awaitable<Result<void>> {
      FrameWriter writer = [&user, &password](proto::FrameBuilder& builder, std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto user_offset = fbb.CreateString(user);
        auto password_offset = fbb.CreateString(password);
        return builder.finish(id, wire::CreateRegister(fbb, user_offset, password_offset));
      };
      std::uint32_t redirects = 0;
      auto reply = co_await call_following_redirects(writer, redirects);
      if (!reply) co_return reply.error();
      co_return expect_ok(reply.value());
    });
  }

  Result<LoginInfo> login(std::string user, std::string secret, bool use_token,
                          std::string device) {
    return run<LoginInfo>(
        [this, user, secret, use_token, device]() -> asio::awaitable<Result<LoginInfo>> {
          // An explicit login supersedes any reconnect in progress.
          ++reconnect_generation_;
          reconnect_timer_.cancel();
          co_return co_await login_flow(user, secret, use_token, device);
        });
  }

  Result<void> logout(bool all_devices) {
    return run<void>([this, all_devices]() -> asio::awaitable<Result<void>> {
      // The server may close the connection after Logout; that is not a reason to reconnect.
      set_logged_in(false);
      ++reconnect_generation_;
      FrameWriter logout = [all_devices](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreateLogout(builder.fbb(), all_devices));
      };
      auto reply = co_await call(logout);
      if (!reply) co_return reply.error();
      co_return expect_ok(reply.value());
    });
  }

  Result<SendAck> send(std::string to_user, std::string to_group, std::string body,
                       std::uint64_t client_msg_id) {
    if (client_msg_id == 0) client_msg_id = next_client_msg_id_++;
    return blocking<SendAck>(
        [to_user, to_group, body, client_msg_id](proto::FrameBuilder& builder, std::uint32_t id) {
          auto& fbb = builder.fbb();
          auto user = to_user.empty() ? 0 : fbb.CreateString(to_user);
          auto group = to_group.empty() ? 0 : fbb.CreateString(to_group);
          auto bytes =
              fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
          return builder.finish(id, wire::CreateSend(fbb, user, group, client_msg_id, bytes));
        },
        [](const Frame& frame) -> Result<SendAck> {
          const auto* ack = frame.envelope->body_as_SendAck();
          if (ack == nullptr) return unexpected_reply(frame, "SendAck");
          return SendAck{std::string(proto::view(ack->conversation())), ack->seq(),
                         ack->server_time_ms(), ack->client_msg_id(), ack->duplicate()};
        });
  }

  Result<std::uint64_t> deliver_backlog() {
    return run<std::uint64_t>([this]() { return deliver_missing(); });
  }

  // --- Events -----------------------------------------------------------------------------

  void emit(Event event) {
    if (options_.on_event) {
      options_.on_event(std::move(event));
      return;
    }
    {
      std::lock_guard lock(events_mutex_);
      if (events_.size() >= options_.max_queued_events) {
        events_.pop_front();
        ++dropped_events_;
      }
      events_.push_back(std::move(event));
    }
    events_changed_.notify_all();
  }

  std::optional<Event> wait_event(const std::function<bool(const Event&)>& match,
                                  std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(events_mutex_);
    for (;;) {
      auto it = std::find_if(events_.begin(), events_.end(),
                             [&](const Event& event) { return !match || match(event); });
      if (it != events_.end()) {
        Event event = std::move(*it);
        events_.erase(it);
        return event;
      }
      if (events_changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
        // One last look: the notification may have raced the deadline.
        auto late = std::find_if(events_.begin(), events_.end(),
                                 [&](const Event& event) { return !match || match(event); });
        if (late == events_.end()) return std::nullopt;
        Event event = std::move(*late);
        events_.erase(late);
        return event;
      }
    }
  }

  std::uint64_t dropped_events() const {
    std::lock_guard lock(events_mutex_);
    return dropped_events_;
  }

  // --- Session summary, readable from any thread -------------------------------------------

  struct Summary {
    std::string user;
    std::string device;
    std::string token;
    std::string node;
  };
  Summary summary() const {
    std::lock_guard lock(summary_mutex_);
    return summary_;
  }
  bool connected() const { return connected_.load(); }
  bool logged_in() const { return logged_in_.load(); }

  ClientOptions options_;

 private:
  void set_logged_in(bool value) { logged_in_ = value; }

  void drop_connection() {
    for (auto* slot : {&connection_, &opening_}) {
      if (auto connection = std::exchange(*slot, nullptr)) {
        connection->close({errc::unavailable, "closed by the client"}, /*quiet=*/true);
      }
    }
    connected_ = false;
  }

  // REQUIRES: `host` outlives the awaited call.
  asio::awaitable<Result<ServerInfo>> open_connection(const std::string& host, std::uint16_t port) {
    drop_connection();
    client::ConnectionOptions connection_options;
    connection_options.connect_timeout = options_.connect_timeout;
    connection_options.request_timeout = options_.request_timeout;
    connection_options.max_frame_bytes = options_.max_frame_bytes;
    connection_options.max_pending_requests = options_.max_pending_requests;
    connection_options.max_outbound_frames = options_.max_outbound_frames;
    connection_options.client_name = options_.client_name;
    auto connection = std::make_shared<AsyncConnection>(io_.get_executor(), connection_options);
    AsyncConnection* identity = connection.get();
    connection->set_push_handler([this](Frame frame) { on_push(frame); });
    connection->set_close_handler(
        [this, identity](const Error& reason) { on_connection_closed(identity, reason); });
    opening_ = connection;
    auto opened = co_await connection->open(host, port);
    if (opening_ != connection) {
      // drop_connection() ran meanwhile: the owner closed or is shutting down.
      connection->close({errc::unavailable, "closed by the client"}, /*quiet=*/true);
      co_return Error{errc::unavailable, "connection closed by the client while connecting"};
    }
    opening_ = nullptr;
    if (!opened) {
      connection->close(opened.error(), /*quiet=*/true);
      co_return opened.error();
    }
    connection_ = std::move(connection);
    host_ = host;
    port_ = port;
    connected_ = true;
    {
      std::lock_guard lock(summary_mutex_);
      summary_.node = opened->node;
    }
    co_return opened;
  }

  // One request that a node may answer with Redirect (Register, Login): follows up to
  // max_redirects of them, connecting to each target in turn; `redirects` counts them.
  // REQUIRES: `writer` is a named object that outlives the awaited call.
  asio::awaitable<Result<Frame>> call_following_redirects(const FrameWriter& writer,
                                                          std::uint32_t& redirects) {
    std::string host = host_;
    std::uint16_t port = port_;
    for (;;) {
      if (!connection_ || !connection_->is_open()) {
        if (host.empty()) co_return Error{errc::unavailable, "not connected: connect() first"};
        auto opened = co_await open_connection(host, port);
        if (!opened) co_return opened.error();
      }
      auto reply = co_await call(writer);
      if (!reply) co_return reply.error();
      const auto* redirect = reply->envelope->body_as_Redirect();
      if (redirect == nullptr) co_return reply;
      if (redirects >= options_.max_redirects) {
        drop_connection();
        co_return Error{errc::unavailable,
                        fmt::format("gave up after {} redirects", options_.max_redirects)};
      }
      ++redirects;
      host = proto::view(redirect->host());
      port = redirect->port();
      emit(RedirectedEvent{host, port, std::string(proto::view(redirect->node()))});
      drop_connection();  // ends any session this connection had
      set_logged_in(false);
    }
  }

  asio::awaitable<Result<LoginInfo>> login_flow(const std::string& user, const std::string& secret,
                                                bool use_token, const std::string& device) {
    FrameWriter login = [user, secret, use_token, device](proto::FrameBuilder& builder,
                                                          std::uint32_t id) {
      auto& fbb = builder.fbb();
      auto user_offset = fbb.CreateString(user);
      auto password = use_token ? 0 : fbb.CreateString(secret);
      auto token = use_token ? fbb.CreateString(secret) : 0;
      auto device_offset = fbb.CreateString(device);
      return builder.finish(id,
                            wire::CreateLogin(fbb, user_offset, password, token, device_offset));
    };
    std::uint32_t redirects = 0;
    auto reply = co_await call_following_redirects(login, redirects);
    if (!reply) co_return reply.error();
    const Frame& frame = reply.value();
    const auto* ok = frame.envelope->body_as_LoginOk();
    if (ok == nullptr) co_return unexpected_reply(frame, "LoginOk");
    LoginInfo info;
    info.user = proto::view(ok->user());
    info.device = proto::view(ok->device());
    info.token = proto::view(ok->token());
    info.node = proto::view(ok->node());
    info.server_time_ms = ok->server_time_ms();
    info.redirects = redirects;
    // Some servers leave fields out; fall back to what we asked for.
    if (info.user.empty()) info.user = user;
    if (info.device.empty()) info.device = device;
    if (info.token.empty() && use_token) info.token = secret;
    if (info.node.empty() && connection_) info.node = connection_->server().node;
    {
      std::lock_guard lock(summary_mutex_);
      summary_ = {info.user, info.device, info.token, info.node};
    }
    set_logged_in(true);
    co_return info;
  }

  void on_push(const Frame& frame) {
    const auto& envelope = *frame.envelope;
    switch (envelope.body_type()) {
      case wire::Body::Deliver: {
        const auto* message = envelope.body_as_Deliver()->message();
        if (message == nullptr) return;
        Message value = client::message_from_wire(*message);
        auto& delivered = delivered_for(value.conversation);
        if (delivered.seen(value.seq)) return;
        delivered.mark(value.seq);
        if (options_.auto_ack) spawn_ack(value.conversation, value.seq);
        emit(MessageEvent{std::move(value), false});
        return;
      }
      case wire::Body::FriendEvent: {
        const auto* event = envelope.body_as_FriendEvent();
        emit(FriendEvent{std::string(proto::view(event->user())),
                         static_cast<FriendEventKind>(event->kind())});
        return;
      }
      case wire::Body::PresenceEvent: {
        const auto* event = envelope.body_as_PresenceEvent();
        emit(PresenceEvent{std::string(proto::view(event->user())), event->online()});
        return;
      }
      case wire::Body::GroupEvent: {
        const auto* event = envelope.body_as_GroupEvent();
        emit(GroupEvent{
            std::string(proto::view(event->group())), static_cast<GroupEventKind>(event->kind()),
            std::string(proto::view(event->user())), std::string(proto::view(event->by()))});
        return;
      }
      case wire::Body::Redirect: {
        // The user's home moved; the node closes this session next. Reconnect there first.
        const auto* redirect = envelope.body_as_Redirect();
        host_ = proto::view(redirect->host());
        port_ = redirect->port();
        emit(RedirectedEvent{host_, port_, std::string(proto::view(redirect->node()))});
        return;
      }
      default:
        return;  // a push this client does not know; newer servers may add some
    }
  }

  DeliveredSeqs& delivered_for(const std::string& conversation) {
    auto it = delivered_.find(conversation);
    if (it != delivered_.end()) return it->second;
    if (delivered_.size() >= max_tracked_conversations) delivered_.erase(delivered_.begin());
    return delivered_[conversation];
  }

  void spawn_ack(std::string conversation, std::uint64_t seq) {
    // Completes or fails within the request timeout, or at once when the connection closes.
    asio::co_spawn(
        io_,
        [this, conversation = std::move(conversation), seq]() -> asio::awaitable<void> {
          FrameWriter ack = ack_writer(conversation, seq);
          (void)co_await call(ack);
        },
        asio::detached);
  }

  void on_connection_closed(AsyncConnection* identity, const Error& reason) {
    if (!connection_ || connection_.get() != identity) return;
    connection_.reset();
    connected_ = false;
    bool was_logged_in = logged_in_.exchange(false);
    bool will_reconnect =
        was_logged_in && !stopping_ && options_.auto_reconnect && !is_final_error(reason.code);
    emit(DisconnectedEvent{reason.code, reason.message, will_reconnect});
    if (will_reconnect) {
      asio::co_spawn(io_, reconnect_loop(++reconnect_generation_), asio::detached);
    }
  }

  std::chrono::milliseconds backoff(std::uint32_t attempt) {
    auto delay = options_.reconnect_backoff_initial;
    for (std::uint32_t i = 0; i < attempt && delay < options_.reconnect_backoff_max; ++i) {
      delay *= 2;
    }
    delay = std::min(delay, options_.reconnect_backoff_max);
    // Full jitter over the upper half, so many clients dropped at once spread out.
    std::uniform_int_distribution<std::int64_t> jitter(delay.count() / 2, delay.count());
    return std::chrono::milliseconds(jitter(random_));
  }

  asio::awaitable<void> reconnect_loop(std::uint64_t generation) {
    Summary session = summary();
    Error last_error{errc::unavailable, "not attempted"};
    for (std::uint32_t attempt = 0; attempt < options_.max_reconnect_attempts; ++attempt) {
      reconnect_timer_.expires_after(backoff(attempt));
      std::error_code ignored;
      co_await reconnect_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      if (generation != reconnect_generation_ || stopping_) co_return;
      // Every other attempt goes back to the address connect() was given: the last home may
      // be the node that died, and any live node redirects to the user's new home.
      if (attempt % 2 == 1 && !seed_host_.empty()) {
        host_ = seed_host_;
        port_ = seed_port_;
      }
      auto login = co_await login_flow(session.user, session.token, true, session.device);
      if (generation != reconnect_generation_ || stopping_) co_return;
      if (login) {
        emit(ReconnectedEvent{login->node});
        (void)co_await deliver_missing();
        co_return;
      }
      last_error = login.error();
      if (is_final_error(last_error.code)) break;
    }
    emit(DisconnectedEvent{last_error.code,
                           fmt::format("gave up reconnecting: {}", last_error.message), false});
  }

  // Sync, then pull each conversation from what this client has already emitted (at least
  // this device's read cursor), emitting what is new, oldest first.
  asio::awaitable<Result<std::uint64_t>> deliver_missing() {
    FrameWriter sync_request = [](proto::FrameBuilder& builder, std::uint32_t id) {
      return builder.finish(id, wire::CreateSync(builder.fbb()));
    };
    auto reply = co_await call(sync_request);
    if (!reply) co_return reply.error();
    const auto* sync = reply->envelope->body_as_SyncResult();
    if (sync == nullptr) co_return unexpected_reply(reply.value(), "SyncResult");
    std::vector<ConversationState> states;
    if (sync->conversations() != nullptr) {
      for (const auto* state : *sync->conversations()) {
        if (state == nullptr) continue;
        states.push_back({std::string(proto::view(state->conversation())), state->head_seq(),
                          state->read_seq(), state->first_seq(),
                          std::string(proto::view(state->peer()))});
      }
    }
    std::uint64_t emitted = 0;
    for (const auto& state : states) {
      std::uint64_t floor = std::max(state.read_seq, state.first_seq > 0 ? state.first_seq - 1 : 0);
      delivered_for(state.conversation).raise(floor);
      std::uint64_t after = delivered_for(state.conversation).watermark;
      for (std::uint32_t page = 0;
           after < state.head_seq && page < options_.max_pages_per_conversation; ++page) {
        FrameWriter pull = pull_writer(state.conversation, after, options_.page_limit);
        auto batch = co_await call(pull);
        if (!batch) co_return batch.error();
        auto parsed = parse_page(batch.value());
        if (!parsed) co_return parsed.error();
        std::uint64_t last = after;
        // Looked up again after every suspension: pushes may have changed the map meanwhile.
        for (auto& message : parsed->messages) {
          last = std::max(last, message.seq);
          auto& delivered = delivered_for(state.conversation);
          if (delivered.seen(message.seq)) continue;
          delivered.mark(message.seq);
          emit(MessageEvent{std::move(message), true});
          ++emitted;
        }
        if (options_.auto_ack && last > after) {
          FrameWriter ack = ack_writer(state.conversation, last);
          (void)co_await call(ack);
        }
        if (!parsed->more || last <= after) break;
        after = last;
      }
    }
    co_return emitted;
  }

  asio::awaitable<void> heartbeat_loop() {
    auto tick = std::max(options_.heartbeat_interval / 2, std::chrono::milliseconds(10));
    while (!stopping_) {
      heartbeat_timer_.expires_after(tick);
      std::error_code ignored;
      co_await heartbeat_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      if (stopping_) break;
      auto connection = connection_;
      if (!connection || !connection->is_open()) continue;
      if (std::chrono::steady_clock::now() - connection->last_send_time() <
          options_.heartbeat_interval) {
        continue;
      }
      std::uint64_t nonce = ++ping_nonce_;
      FrameWriter ping = [nonce](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreatePing(builder.fbb(), nonce));
      };
      auto reply = co_await connection->request(ping, options_.request_timeout);
      if (!reply && reply.error().code == errc::unavailable && connection->is_open()) {
        // No Pong within the timeout: the link is dead even if TCP has not noticed.
        connection->close({errc::unavailable, "heartbeat: the server did not answer Ping"});
      }
    }
  }

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;

  // I/O thread state.
  std::shared_ptr<AsyncConnection> connection_;
  std::shared_ptr<AsyncConnection> opening_;
  std::string host_;       // the node of the current or last connection
  std::string seed_host_;  // what connect() was given
  std::uint16_t seed_port_ = 0;
  std::uint16_t port_ = 0;
  bool stopping_ = false;
  std::uint64_t reconnect_generation_ = 0;
  std::uint64_t ping_nonce_ = 0;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer reconnect_timer_;
  std::minstd_rand random_;
  std::unordered_map<std::string, DeliveredSeqs> delivered_;

  std::atomic<std::uint64_t> next_client_msg_id_{1};
  std::atomic<bool> connected_{false};
  std::atomic<bool> logged_in_{false};

  mutable std::mutex summary_mutex_;
  Summary summary_;  // GUARDED_BY(summary_mutex_)

  mutable std::mutex events_mutex_;
  std::condition_variable events_changed_;
  std::deque<Event> events_;          // GUARDED_BY(events_mutex_)
  std::uint64_t dropped_events_ = 0;  // GUARDED_BY(events_mutex_)
};

// --- Client -----------------------------------------------------------------------------------

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;

Result<ServerInfo> Client::connect(std::string_view host, std::uint16_t port) {
  return impl_->connect(std::string(host), port);
}
void Client::close() {
  impl_->close();
}
bool Client::connected() const {
  return impl_->connected();
}
bool Client::logged_in() const {
  return impl_->logged_in();
}

Result<void> Client::register_user(std::string_view user, std::string_view password) {
  return impl_->register_user(std::string(user), std::string(password));
}

Result<LoginInfo> Client::login(std::string_view user, std::string_view password,
                                std::string_view device) {
  return impl_->login(std::string(user), std::string(password), false, std::string(device));
}

Result<LoginInfo> Client::login_with_token(std::string_view user, std::string_view token,
                                           std::string_view device) {
  return impl_->login(std::string(user), std::string(token), true, std::string(device));
}

Result<void> Client::logout(bool all_devices) {
  return impl_->logout(all_devices);
}

Result<void> Client::change_password(std::string_view old_password, std::string_view new_password) {
  return impl_->blocking_ok(
      [old_password = std::string(old_password), new_password = std::string(new_password)](
          proto::FrameBuilder& builder, std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto old_offset = fbb.CreateString(old_password);
        auto new_offset = fbb.CreateString(new_password);
        return builder.finish(id, wire::CreateChangePassword(fbb, old_offset, new_offset));
      });
}

Result<SendAck> Client::send_to_user(std::string_view user, std::string_view body,
                                     std::uint64_t client_msg_id) {
  return impl_->send(std::string(user), {}, std::string(body), client_msg_id);
}

Result<SendAck> Client::send_to_group(std::string_view group, std::string_view body,
                                      std::uint64_t client_msg_id) {
  return impl_->send({}, std::string(group), std::string(body), client_msg_id);
}

Result<void> Client::ack(std::string_view conversation, std::uint64_t seq) {
  return impl_->blocking_ok(ack_writer(std::string(conversation), seq));
}

Result<std::vector<ConversationState>> Client::sync() {
  return impl_->blocking<std::vector<ConversationState>>(
      [](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreateSync(builder.fbb()));
      },
      [](const Frame& frame) -> Result<std::vector<ConversationState>> {
        const auto* sync = frame.envelope->body_as_SyncResult();
        if (sync == nullptr) return unexpected_reply(frame, "SyncResult");
        std::vector<ConversationState> states;
        if (sync->conversations() != nullptr) {
          for (const auto* state : *sync->conversations()) {
            if (state == nullptr) continue;
            states.push_back({std::string(proto::view(state->conversation())), state->head_seq(),
                              state->read_seq(), state->first_seq(),
                              std::string(proto::view(state->peer()))});
          }
        }
        return states;
      });
}

Result<MessagePage> Client::pull(std::string_view conversation, std::uint64_t after_seq,
                                 std::uint32_t limit) {
  return impl_->blocking<MessagePage>(pull_writer(std::string(conversation), after_seq, limit),
                                      parse_page);
}

Result<MessagePage> Client::history(std::string_view conversation, std::uint64_t before_seq,
                                    std::uint32_t limit) {
  return impl_->blocking<MessagePage>(
      [conversation = std::string(conversation), before_seq, limit](proto::FrameBuilder& builder,
                                                                    std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto conversation_offset = fbb.CreateString(conversation);
        return builder.finish(id, wire::CreateHistory(fbb, conversation_offset, before_seq, limit));
      },
      parse_page);
}

Result<std::uint64_t> Client::deliver_backlog() {
  return impl_->deliver_backlog();
}

Result<void> Client::friend_request(std::string_view user) {
  return impl_->blocking_ok(single_string_writer(std::string(user), [](auto& fbb, auto text) {
    return wire::CreateFriendRequest(fbb, text);
  }));
}
Result<void> Client::friend_accept(std::string_view user) {
  return impl_->blocking_ok(single_string_writer(
      std::string(user), [](auto& fbb, auto text) { return wire::CreateFriendAccept(fbb, text); }));
}
Result<void> Client::friend_decline(std::string_view user) {
  return impl_->blocking_ok(single_string_writer(std::string(user), [](auto& fbb, auto text) {
    return wire::CreateFriendDecline(fbb, text);
  }));
}
Result<void> Client::friend_remove(std::string_view user) {
  return impl_->blocking_ok(single_string_writer(
      std::string(user), [](auto& fbb, auto text) { return wire::CreateFriendRemove(fbb, text); }));
}

Result<std::vector<Friend>> Client::friends() {
  return impl_->blocking<std::vector<Friend>>(
      [](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreateFriendList(builder.fbb()));
      },
      [](const Frame& frame) -> Result<std::vector<Friend>> {
        const auto* list = frame.envelope->body_as_FriendListResult();
        if (list == nullptr) return unexpected_reply(frame, "FriendListResult");
        std::vector<Friend> friends;
        if (list->friends() != nullptr) {
          for (const auto* entry : *list->friends()) {
            if (entry == nullptr) continue;
            friends.push_back({std::string(proto::view(entry->user())),
                               static_cast<FriendState>(entry->state()), entry->online()});
          }
        }
        return friends;
      });
}

Result<void> Client::group_create(std::string_view group, std::string_view name,
                                  const std::vector<std::string>& members) {
  return impl_->blocking_ok([group = std::string(group), name = std::string(name), members](
                                proto::FrameBuilder& builder, std::uint32_t id) {
    auto& fbb = builder.fbb();
    auto group_offset = fbb.CreateString(group);
    auto name_offset = name.empty() ? 0 : fbb.CreateString(name);
    auto members_offset = string_vector(fbb, members);
    return builder.finish(id,
                          wire::CreateGroupCreate(fbb, group_offset, name_offset, members_offset));
  });
}

Result<void> Client::group_add(std::string_view group, const std::vector<std::string>& users) {
  return impl_->blocking_ok(
      [group = std::string(group), users](proto::FrameBuilder& builder, std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto group_offset = fbb.CreateString(group);
        auto users_offset = string_vector(fbb, users);
        return builder.finish(id, wire::CreateGroupAdd(fbb, group_offset, users_offset));
      });
}

Result<void> Client::group_remove(std::string_view group, std::string_view user) {
  return impl_->blocking_ok([group = std::string(group), user = std::string(user)](
                                proto::FrameBuilder& builder, std::uint32_t id) {
    auto& fbb = builder.fbb();
    auto group_offset = fbb.CreateString(group);
    auto user_offset = fbb.CreateString(user);
    return builder.finish(id, wire::CreateGroupRemove(fbb, group_offset, user_offset));
  });
}

Result<void> Client::group_set_role(std::string_view group, std::string_view user, GroupRole role) {
  return impl_->blocking_ok([group = std::string(group), user = std::string(user), role](
                                proto::FrameBuilder& builder, std::uint32_t id) {
    auto& fbb = builder.fbb();
    auto group_offset = fbb.CreateString(group);
    auto user_offset = fbb.CreateString(user);
    return builder.finish(id, wire::CreateGroupSetRole(fbb, group_offset, user_offset,
                                                       static_cast<wire::GroupRole>(role)));
  });
}

Result<void> Client::group_leave(std::string_view group) {
  return impl_->blocking_ok(single_string_writer(
      std::string(group), [](auto& fbb, auto text) { return wire::CreateGroupLeave(fbb, text); }));
}

Result<void> Client::group_dissolve(std::string_view group) {
  return impl_->blocking_ok(single_string_writer(std::string(group), [](auto& fbb, auto text) {
    return wire::CreateGroupDissolve(fbb, text);
  }));
}

Result<GroupMembers> Client::group_members(std::string_view group) {
  return impl_->blocking<GroupMembers>(
      single_string_writer(
          std::string(group),
          [](auto& fbb, auto text) { return wire::CreateGroupMembers(fbb, text); }),
      [](const Frame& frame) -> Result<GroupMembers> {
        const auto* result = frame.envelope->body_as_GroupMembersResult();
        if (result == nullptr) return unexpected_reply(frame, "GroupMembersResult");
        GroupMembers out;
        if (result->info() != nullptr) out.info = group_info_from_wire(*result->info());
        if (result->members() != nullptr) {
          for (const auto* member : *result->members()) {
            if (member == nullptr) continue;
            out.members.push_back({std::string(proto::view(member->user())),
                                   static_cast<GroupRole>(member->role()), member->online(),
                                   member->joined_seq()});
          }
        }
        return out;
      });
}

Result<std::vector<GroupInfo>> Client::my_groups() {
  return impl_->blocking<std::vector<GroupInfo>>(
      [](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreateMyGroups(builder.fbb()));
      },
      [](const Frame& frame) -> Result<std::vector<GroupInfo>> {
        const auto* result = frame.envelope->body_as_MyGroupsResult();
        if (result == nullptr) return unexpected_reply(frame, "MyGroupsResult");
        std::vector<GroupInfo> groups;
        if (result->groups() != nullptr) {
          for (const auto* info : *result->groups()) {
            if (info != nullptr) groups.push_back(group_info_from_wire(*info));
          }
        }
        return groups;
      });
}

Result<OnlineUsersPage> Client::online_users(std::string_view after, std::uint32_t limit) {
  return impl_->blocking<OnlineUsersPage>(
      [after = std::string(after), limit](proto::FrameBuilder& builder, std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto after_offset = after.empty() ? 0 : fbb.CreateString(after);
        return builder.finish(id, wire::CreateOnlineUsers(fbb, after_offset, limit));
      },
      [](const Frame& frame) -> Result<OnlineUsersPage> {
        const auto* result = frame.envelope->body_as_OnlineUsersResult();
        if (result == nullptr) return unexpected_reply(frame, "OnlineUsersResult");
        OnlineUsersPage page;
        page.total = result->total();
        page.more = result->more();
        if (result->users() != nullptr) {
          for (const auto* user : *result->users())
            page.users.emplace_back(proto::view(user));
        }
        return page;
      });
}

Result<std::uint64_t> Client::ping() {
  return impl_->blocking<std::uint64_t>(
      [](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreatePing(builder.fbb(), id));
      },
      [](const Frame& frame) -> Result<std::uint64_t> {
        const auto* pong = frame.envelope->body_as_Pong();
        if (pong == nullptr) return unexpected_reply(frame, "Pong");
        return pong->server_time_ms();
      });
}

std::optional<Event> Client::next_event(std::chrono::milliseconds timeout) {
  return impl_->wait_event(nullptr, timeout);
}

std::optional<Event> Client::wait_event(const std::function<bool(const Event&)>& match,
                                        std::chrono::milliseconds timeout) {
  return impl_->wait_event(match, timeout);
}

std::uint64_t Client::dropped_events() const {
  return impl_->dropped_events();
}
std::string Client::node() const {
  return impl_->summary().node;
}
std::string Client::user() const {
  return impl_->summary().user;
}
std::string Client::token() const {
  return impl_->summary().token;
}

}  // namespace qim
