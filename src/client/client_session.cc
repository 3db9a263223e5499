// Client::Impl's session: connecting, logging in (following redirects), losing the connection
// and resuming the session automatically.
#include <algorithm>

#include "client/client_impl.h"
#include "client/tls_client_context.h"

namespace qim {

using client::AsyncConnection;

namespace {

// A node that accepts a reconnection but does not answer Hello within this (or the Pong
// timeout, if longer) is passed over for the next one.
constexpr std::chrono::milliseconds reconnect_hello_timeout_min{2'000};

bool is_final_error(errc code) {
  return code == errc::auth_failed || code == errc::account_disabled || code == errc::kicked;
}

}  // namespace

void Client::Impl::set_logged_in(bool value) {
  logged_in_ = value;
}

std::chrono::milliseconds Client::Impl::silence_period() const {
  return std::max(options_.pong_timeout, reconnect_hello_timeout_min);
}

void Client::Impl::drop_connection() {
  for (auto* slot : {&connection_, &opening_}) {
    if (auto connection = std::exchange(*slot, nullptr)) {
      connection->close({errc::unavailable, "closed by the client"}, /*quiet=*/true);
    }
  }
  connected_ = false;
}

asio::awaitable<Result<ServerInfo>> Client::Impl::open_connection(
    const std::string& host, std::uint16_t port, std::chrono::milliseconds hello_timeout) {
  drop_connection();
  client::ConnectionOptions connection_options;
  // Pinning a key needs TLS: a pin file turns it on.
  if (options_.tls.enabled || !options_.tls.pin_file.empty()) {
    if (!tls_context_) {
      auto context = client::make_tls_context(options_.tls);
      if (!context) co_return context.error();
      tls_context_ = context.value();
    }
    connection_options.tls = tls_context_;
    connection_options.pins = pins_;
    connection_options.verify_host = options_.tls.verify && !pins_;
  }
  connection_options.connect_timeout = options_.connect_timeout;
  connection_options.request_timeout = options_.request_timeout;
  connection_options.hello_timeout = hello_timeout;
  connection_options.heartbeat_interval = options_.heartbeat_interval;
  connection_options.pong_timeout = options_.pong_timeout;
  connection_options.max_frame_bytes = options_.max_frame_bytes;
  connection_options.max_pending_requests = options_.max_pending_requests;
  connection_options.max_outbound_frames = options_.max_outbound_frames;
  connection_options.client_name = options_.client_name;
  auto connection = std::make_shared<AsyncConnection>(io_.get_executor(), connection_options);
  AsyncConnection* identity = connection.get();
  connection->set_push_handler([this](Frame frame) { on_push(frame); });
  connection->set_reply_observer([this](const Frame& frame) { on_reply(frame); });
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
  Address address{host, port};
  if (!opened) {
    connection->close(opened.error(), /*quiet=*/true);
    // Refused, or accepted by a kernel whose process does not answer (paused, overloaded).
    addresses_.mark_silent(address, std::chrono::steady_clock::now() + silence_period());
    co_return opened.error();
  }
  connection_ = std::move(connection);
  host_ = host;
  port_ = port;
  addresses_.mark_answered(address);
  // The other live nodes the server listed: where to go when this one is gone.
  if (opened->cluster_nodes.empty()) {
    addresses_.remember(address);
  } else {
    std::vector<Address> live;
    for (const std::string& text : opened->cluster_nodes) {
      if (auto node = client::parse_node_address(text)) live.push_back(std::move(*node));
    }
    addresses_.replace_learned(address, live);
  }
  connected_ = true;
  {
    std::lock_guard lock(summary_mutex_);
    summary_.node = opened->node;
  }
  co_return opened;
}

Result<ServerInfo> Client::Impl::connect(std::string host, std::uint16_t port) {
  return run<ServerInfo>(
      [this, host, port]() -> asio::awaitable<Result<ServerInfo>> {
        ++generation_;
        stop_reconnecting();
        set_logged_in(false);
        end_session_delivery();
        drop_connection();
        addresses_.set_entry({host, port});
        if (!options_.tls.pin_file.empty()) {
          if (!pins_) {
            pins_ =
                std::make_shared<client::ServerPins>(options_.tls.pin_file, options_.tls.on_pinned);
          }
          pins_->allow_first_use(client::pin_address(host, port));  // the user's own choice
        }
        auto opened = co_await open_connection(host, port, options_.request_timeout);
        // A session being resumed stays so: a login is expected next, and if this failed the
        // automatic reconnection goes on.
        if (!opened && lost_ && options_.auto_reconnect && !stopping_) start_reconnecting(false);
        session_changed_.notify_all();
        co_return opened;
      },
      options_.connect_timeout + options_.request_timeout + backstop_margin);
}

void Client::Impl::close() {
  (void)run<bool>(
      [this]() -> asio::awaitable<Result<bool>> {
        ++generation_;
        stop_reconnecting();
        lost_.reset();
        set_logged_in(false);
        end_session_delivery();
        drop_connection();
        session_changed_.notify_all();
        co_return true;
      },
      options_.request_timeout + backstop_margin);
}

asio::awaitable<Result<Client::Impl::Frame>> Client::Impl::call_following_redirects(
    const FrameWriter& writer, std::uint32_t& redirects, bool patient, bool announce,
    TimePoint deadline) {
  std::string host = host_;
  std::uint16_t port = port_;
  std::uint32_t attempt = 0;
  // A reconnection attempt gives each node one hello timeout to answer: a node that does not
  // is marked silent and the attempt ends, so the next one goes elsewhere.
  auto hello_timeout =
      patient ? options_.request_timeout : std::min(options_.request_timeout, silence_period());
  for (;;) {
    if (stopping_) co_return Error{errc::shutting_down, "the client is closing"};
    if (!connection_ || !connection_->is_open()) {
      if (host.empty()) co_return Error{errc::unavailable, "not connected: connect() first"};
      auto opened = co_await open_connection(host, port, hello_timeout);
      if (!opened) {
        auto delay = retry_backoff(attempt++);
        // An untrusted certificate or a TLS mismatch (either way round) stays so.
        bool lasting = opened.error().code == errc::auth_failed ||
                       opened.error().code == errc::unsupported_version;
        if (patient && !lasting && std::chrono::steady_clock::now() + delay < deadline) {
          co_await sleep(delay);
          continue;
        }
        co_return opened.error();
      }
    }
    auto call_deadline =
        patient ? deadline : std::min(deadline, std::chrono::steady_clock::now() + hello_timeout);
    bool answered = false;
    auto reply = co_await call(writer, Retry::connection, call_deadline, &answered);
    if (!reply) {
      if (!patient && !answered && connection_ && connection_->is_open()) {
        // Connected, then no answer: the node stopped after its HelloOk. (One that answered,
        // if only "not now" while its partition changes leaders, is alive: the next attempt
        // may go back to it.)
        addresses_.mark_silent({host, port}, std::chrono::steady_clock::now() + silence_period());
        drop_connection();
      }
      auto delay = retry_backoff(attempt++);
      if (patient && reply.error().code == errc::unavailable &&
          std::chrono::steady_clock::now() + delay < deadline) {
        // "Their home node is down; retry later", or the connection was lost.
        co_await sleep(delay);
        continue;
      }
      co_return reply.error();
    }
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
    addresses_.remember({host, port});
    if (announce) emit(RedirectedEvent{host, port, std::string(proto::view(redirect->node()))});
    drop_connection();  // ends any session this connection had
    set_logged_in(false);
    if (!patient && addresses_.silent({host, port}, std::chrono::steady_clock::now())) {
      // The cluster still names a node that just did not answer (its partition has not
      // elected another leader yet): ask a live node again soon rather than wait on it.
      co_return Error{errc::unavailable,
                      fmt::format("redirected to {} ({}:{}), which is not answering",
                                  proto::view(redirect->node()), host, port)};
    }
  }
}

asio::awaitable<Result<LoginInfo>> Client::Impl::login_flow(const std::string& user,
                                                            const std::string& secret,
                                                            bool use_token,
                                                            const std::string& device, bool patient,
                                                            std::uint64_t generation) {
  FrameWriter login = [user, secret, use_token, device](proto::FrameBuilder& builder,
                                                        std::uint32_t id) {
    auto& fbb = builder.fbb();
    auto user_offset = fbb.CreateString(user);
    auto password = use_token ? 0 : fbb.CreateString(secret);
    auto token = use_token ? fbb.CreateString(secret) : 0;
    auto device_offset = fbb.CreateString(device);
    return builder.finish(id, wire::CreateLogin(fbb, user_offset, password, token, device_offset));
  };
  std::uint32_t redirects = 0;
  auto deadline = deadline_after(options_.request_timeout);
  auto reply = co_await call_following_redirects(login, redirects, patient, patient, deadline);
  if (!reply) co_return reply.error();
  if (generation != generation_) {
    co_return Error{errc::unavailable, "superseded by another connect, login or close"};
  }
  const Frame& frame = reply.value();
  const auto* ok = frame.envelope->body_as_LoginOk();
  if (ok == nullptr) co_return client::unexpected_reply(frame, "LoginOk");
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

Result<void> Client::Impl::register_user(std::string user, std::string password) {
  // Registration happens at the user's home, so it follows redirects like login does.
  return run<void>(
      [this, user, password]() -> asio::awaitable<Result<void>> {
        FrameWriter writer = [&user, &password](proto::FrameBuilder& builder, std::uint32_t id) {
          auto& fbb = builder.fbb();
          auto user_offset = fbb.CreateString(user);
          auto password_offset = fbb.CreateString(password);
          return builder.finish(id, wire::CreateRegister(fbb, user_offset, password_offset));
        };
        std::uint32_t redirects = 0;
        auto deadline = deadline_after(options_.request_timeout);
        auto reply = co_await call_following_redirects(writer, redirects, /*patient=*/true,
                                                       /*announce=*/true, deadline);
        if (!reply) co_return reply.error();
        co_return client::expect_ok(reply.value());
      },
      (options_.request_timeout + options_.connect_timeout) * (options_.max_redirects + 2) +
          backstop_margin);
}

Result<LoginInfo> Client::Impl::login(std::string user, std::string secret, bool use_token,
                                      std::string device) {
  return run<LoginInfo>(
      [this, user, secret, use_token, device]() -> asio::awaitable<Result<LoginInfo>> {
        // An explicit login supersedes a reconnection in progress, which is resumed if it
        // fails: a login typed during an outage must not end the automatic reconnection.
        bool resuming = lost_.has_value();
        if (reconnecting_) drop_connection();  // the loop's half-done attempt
        std::uint64_t generation = ++generation_;
        stop_reconnecting();
        ++logins_in_progress_;
        auto result =
            co_await login_flow(user, secret, use_token, device, /*patient=*/true, generation);
        --logins_in_progress_;
        if (result) {
          Session session{result->user, result->device, result->token};
          lost_.reset();
          begin_session_delivery(session, /*resync=*/resuming);
        } else if (resuming && lost_ && options_.auto_reconnect && !stopping_ &&
                   generation == generation_) {
          start_reconnecting(false);
        }
        session_changed_.notify_all();
        co_return result;
      },
      (options_.request_timeout + options_.connect_timeout) * (options_.max_redirects + 2) +
          backstop_margin);
}

Result<void> Client::Impl::logout(bool all_devices) {
  return run<void>(
      [this, all_devices]() -> asio::awaitable<Result<void>> {
        // The server may close the connection after Logout; that is not a reason to reconnect.
        ++generation_;
        stop_reconnecting();
        lost_.reset();
        set_logged_in(false);
        end_session_delivery();
        session_changed_.notify_all();
        FrameWriter logout = [all_devices](proto::FrameBuilder& builder, std::uint32_t id) {
          return builder.finish(id, wire::CreateLogout(builder.fbb(), all_devices));
        };
        auto reply =
            co_await call(logout, Retry::connection, deadline_after(options_.request_timeout));
        if (!reply) co_return reply.error();
        co_return client::expect_ok(reply.value());
      },
      options_.request_timeout + backstop_margin);
}

Result<SendAck> Client::Impl::send(std::string to_user, std::string to_group, std::string body,
                                   std::uint64_t client_msg_id) {
  if (client_msg_id == 0) client_msg_id = next_client_msg_id_++;
  // Idempotent: a retry carries the same client_msg_id and the server stores the message once.
  return blocking<SendAck>(
      [to_user, to_group, body, client_msg_id](proto::FrameBuilder& builder, std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto user = to_user.empty() ? 0 : fbb.CreateString(to_user);
        auto group = to_group.empty() ? 0 : fbb.CreateString(to_group);
        auto bytes =
            fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
        return builder.finish(id, wire::CreateSend(fbb, user, group, client_msg_id, bytes));
      },
      Retry::idempotent,
      [](const Frame& frame) -> Result<SendAck> {
        const auto* ack = frame.envelope->body_as_SendAck();
        if (ack == nullptr) return client::unexpected_reply(frame, "SendAck");
        return SendAck{std::string(proto::view(ack->conversation())), ack->seq(),
                       ack->server_time_ms(), ack->client_msg_id(), ack->duplicate()};
      });
}

// --- Losing and resuming the session ----------------------------------------------------------

void Client::Impl::on_connection_closed(AsyncConnection* identity, const Error& reason) {
  if (!connection_ || connection_.get() != identity) return;
  // A node that went silent is not the first one tried again; a moved home is.
  bool moved = !moved_to_.empty();
  bool skip_home = !moved && connection_->went_silent();
  if (skip_home) {
    addresses_.mark_silent({host_, port_}, std::chrono::steady_clock::now() + silence_period());
  }
  connection_.reset();
  connected_ = false;
  bool was_logged_in = logged_in_.exchange(false);
  if (was_logged_in) end_session_delivery();
  std::string node = summary().node;
  bool will_reconnect =
      was_logged_in && !stopping_ && options_.auto_reconnect && !is_final_error(reason.code);
  std::string message = reason.message;
  if (moved) message = fmt::format("the user's home moved to {}", std::exchange(moved_to_, {}));
  Address home{host_, port_};
  if (will_reconnect) {
    Summary session = summary();
    lost_ = Session{session.user, session.device, session.token};
    message += "; reconnecting";
  }
  emit(DisconnectedEvent{reason.code, message, will_reconnect, node});
  session_changed_.notify_all();
  if (will_reconnect) {
    ++generation_;
    reconnecting_ = true;
    asio::co_spawn(io_, reconnect_loop(generation_, home, skip_home), asio::detached);
  }
}

void Client::Impl::stop_reconnecting() {
  reconnecting_ = false;
  reconnect_timer_.cancel();
}

void Client::Impl::start_reconnecting(bool skip_home) {
  ++generation_;
  reconnecting_ = true;
  asio::co_spawn(io_, reconnect_loop(generation_, Address{host_, port_}, skip_home),
                 asio::detached);
}

std::chrono::milliseconds Client::Impl::reconnect_backoff(std::uint32_t attempt) {
  auto delay = options_.reconnect_backoff_initial;
  for (std::uint32_t i = 0; i < attempt && delay < options_.reconnect_backoff_max; ++i) {
    delay *= 2;
  }
  return jittered(std::min(delay, options_.reconnect_backoff_max));
}

asio::awaitable<void> Client::Impl::report_catch_up(std::uint64_t generation, std::uint64_t resync,
                                                    std::uint64_t before) {
  bool told_failure = false;
  for (;;) {
    auto caught_up = co_await wait_resync(resync);
    if (generation != generation_ || stopping_ || !logged_in_) co_return;
    if (caught_up) {
      emit(CaughtUpEvent{true, pulled_delivered_ - before, {}});
      co_return;
    }
    if (!told_failure) {
      emit(CaughtUpEvent{false, pulled_delivered_ - before, caught_up.error().message});
      told_failure = true;
    }
    if (delivery_.resync_state(resync) == client::DeliveryOrder::ResyncState::pending) {
      continue;  // slow, not failed
    }
    // A failed resync is followed by another of the delivery order's own, later.
    if (delivery_.latest_resync() <= resync) co_return;
    resync = delivery_.latest_resync();
  }
}

asio::awaitable<void> Client::Impl::reconnect_loop(std::uint64_t generation, Address home,
                                                   bool skip_home) {
  if (!lost_) co_return;
  Session session = *lost_;
  std::string node = summary().node;
  Error last_error{errc::unavailable, "not attempted"};
  std::uint32_t attempts = 0;
  for (std::uint32_t attempt = 0; attempt < options_.max_reconnect_attempts; ++attempt) {
    auto delay = reconnect_backoff(attempt);
    {
      std::lock_guard lock(reconnect_mutex_);
      reconnect_status_.node = node;
      reconnect_status_.attempt = attempt + 1;
      reconnect_status_.next_attempt = std::chrono::steady_clock::now() + delay;
      if (attempt == 0) reconnect_status_.last_error.clear();
    }
    reconnect_timer_.expires_after(delay);
    std::error_code ignored;
    co_await reconnect_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (generation != generation_ || stopping_) co_return;
    Address target =
        addresses_.target(home, attempt + (skip_home ? 1 : 0), std::chrono::steady_clock::now());
    host_ = target.host;
    port_ = target.port;
    drop_connection();
    ++attempts;
    auto login = co_await login_flow(session.user, session.token, true, session.device,
                                     /*patient=*/false, generation);
    if (generation != generation_ || stopping_) co_return;
    if (login) {
      reconnecting_ = false;
      lost_.reset();
      session_changed_.notify_all();
      // Logged in is back: the catch-up runs behind it and reports its own end.
      emit(ReconnectedEvent{login->node, attempts,
                            attempts > 1 ? last_error.message : std::string()});
      std::uint64_t before = pulled_delivered_;
      co_await report_catch_up(generation, begin_session_delivery(session, /*resync=*/true),
                               before);
      co_return;
    }
    last_error = login.error();
    {
      std::lock_guard lock(reconnect_mutex_);
      reconnect_status_.last_error = last_error.message;
    }
    if (is_final_error(last_error.code)) break;
  }
  reconnecting_ = false;
  lost_.reset();
  session_changed_.notify_all();
  emit(DisconnectedEvent{
      last_error.code,
      fmt::format("gave up reconnecting after {} attempts: {}", attempts, last_error.message),
      false, node});
}

}  // namespace qim
