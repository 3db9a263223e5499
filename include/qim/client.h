#pragma once
// The qim client library: a blocking client for tools and tests, built on an internal
// asynchronous connection (src/client/async_connection.h). This header shows only domain
// types: no FlatBuffers, no Asio.
//
// What the library promises the application:
//   - Messages: per conversation, MessageEvents come in strictly increasing seq, each once,
//     whether the message was pushed live or pulled (see MessageEvent).
//   - Liveness: a server that stops answering is noticed within the heartbeat interval and
//     the Pong timeout (about 6 s with the defaults), not at a request's own timeout.
//   - Retries: after a logged-in connection drops, the session is resumed automatically, and
//     calls that are safe to repeat wait for it and are repeated (see "Which calls retry").
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "qim/errc.h"

namespace qim {

// A value or an Error. Operating failures are values; nothing here throws.
template <typename T>
class [[nodiscard]] Result {
 public:
  // Empty results are errors (Asio needs a default for coroutines that end by exception).
  Result() : state_(Error{errc::internal, "no result"}) {}
  Result(T value) : state_(std::move(value)) {}      // NOLINT: implicit on purpose
  Result(Error error) : state_(std::move(error)) {}  // NOLINT: implicit on purpose
  bool ok() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  // REQUIRES: ok().
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  // REQUIRES: !ok().
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit on purpose
  bool ok() const noexcept { return error_.code == errc::ok; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
};

// --- Domain values ----------------------------------------------------------------------------

struct Message {
  std::string conversation;  // "d:<a>:<b>" or "g:<group>"
  std::uint64_t seq = 0;
  std::string sender;
  std::string sender_device;
  std::uint64_t client_msg_id = 0;
  std::uint64_t server_time_ms = 0;
  std::string body;  // raw bytes; the terminal client treats them as UTF-8 text
};

struct ServerInfo {
  std::uint32_t protocol_version = 0;
  std::string server_version;
  std::string node;
  std::uint32_t max_frame_bytes = 0;
  std::uint32_t max_body_bytes = 0;
  std::uint64_t server_time_ms = 0;
  // Client addresses ("host:port") of the cluster's live nodes, as the server listed them: the
  // client reconnects to these when its node goes down.
  std::vector<std::string> cluster_nodes;
};

struct LoginInfo {
  std::string user;
  std::string device;
  std::string token;
  std::string node;  // the node the session ended on, after following redirects
  std::uint64_t server_time_ms = 0;
  std::uint32_t redirects = 0;  // how many Redirect answers were followed
};

struct SendAck {
  std::string conversation;
  std::uint64_t seq = 0;
  std::uint64_t server_time_ms = 0;
  std::uint64_t client_msg_id = 0;
  bool duplicate = false;  // the server had stored this client_msg_id before
};

struct ConversationState {
  std::string conversation;
  std::uint64_t head_seq = 0;
  std::uint64_t read_seq = 0;
  std::uint64_t first_seq = 0;
  std::string peer;  // the other user of a direct conversation, or the group id
};

struct MessagePage {
  std::string conversation;
  std::vector<Message> messages;  // oldest first
  bool more = false;
};

enum class FriendState : std::uint8_t { none = 0, pending_out = 1, pending_in = 2, accepted = 3 };

struct Friend {
  std::string user;
  FriendState state = FriendState::none;
  bool online = false;
};

enum class GroupRole : std::uint8_t { member = 0, admin = 1, owner = 2 };

struct GroupInfo {
  std::string group;
  std::string name;
  std::string owner;
  std::uint32_t member_count = 0;
  GroupRole role = GroupRole::member;  // the caller's role
  std::uint64_t created_ms = 0;
};

struct GroupMember {
  std::string user;
  GroupRole role = GroupRole::member;
  bool online = false;
  std::uint64_t joined_seq = 0;
};

struct GroupMembers {
  GroupInfo info;
  std::vector<GroupMember> members;
};

struct OnlineUsersPage {
  std::uint64_t total = 0;
  std::vector<std::string> users;
  bool more = false;
};

// --- Events -----------------------------------------------------------------------------------

// A message for the application. Per conversation they come in strictly increasing seq and
// each once: a push above the next expected seq is held while the missing range is pulled at
// once (not at the next reconnect), and one that was pulled already is dropped when its push
// comes late. The application's starting point in a conversation is this device's read cursor
// (or the seq before the user joined a group), as the last Sync reported it: deliver_backlog(),
// a reconnect or a server Resync runs one. When the first push of a conversation comes with no
// such Sync behind it, the library runs one before handing it over, so the unread messages
// before it come first (from_sync); a push of seq 1 needs none. If that Sync fails, the push
// itself is the starting point. A message this client sent is not an event (the send's SendAck
// is its delivery, as the server pushes it only to the sender's other sessions); it still
// takes its place in the order, so a pull never shows it and it never looks like a gap. Bounds
// (ClientOptions::max_held_messages*, gap_timeout): beyond them, held pushes are dropped and the
// conversation is pulled up to the highest seq seen instead, so nothing is skipped.
struct MessageEvent {
  Message message;
  bool from_sync = false;  // it came from a pull (a gap, a backlog, a resync), not pushed live
};

enum class FriendEventKind : std::uint8_t {
  requested = 0,
  accepted = 1,
  declined = 2,
  removed = 3
};
struct FriendEvent {
  std::string user;
  FriendEventKind kind = FriendEventKind::requested;
};

struct PresenceEvent {
  std::string user;
  bool online = false;
};

enum class GroupEventKind : std::uint8_t {
  added = 0,
  removed = 1,
  left = 2,
  dissolved = 3,
  role_changed = 4
};
struct GroupEvent {
  std::string group;
  GroupEventKind kind = GroupEventKind::added;
  std::string user;
  std::string by;
};

// The connection ended. will_reconnect says whether the client is now trying to get back (one
// event per outage: the attempts themselves are quiet). Also sent, with will_reconnect false,
// when the client gives up reconnecting. The message says why, for a human: "the server stopped
// answering (no Pong in 3 s); reconnecting".
struct DisconnectedEvent {
  errc code = errc::unavailable;
  std::string message;
  bool will_reconnect = false;
  std::string node;  // the node the connection was to
};

// Automatic reconnection succeeded: the session is logged in again on `node`, and calls that
// waited for it have gone on. The messages missed meanwhile follow (from_sync = true), then a
// CaughtUpEvent: a session is usable as soon as it is logged in, and its catch-up must not
// hold it back (during a change of leaders the catch-up can take seconds longer than the login).
struct ReconnectedEvent {
  std::string node;
  std::uint32_t attempts = 1;  // login attempts this reconnection took
  std::string last_error;      // why the attempt before the last failed (empty: none did)
};

// The catch-up after an automatic reconnection ended. ok: every conversation was brought up to
// the head the server reported, and `missed_messages` (which came just before this event)
// counts what it handed over. Not ok: `message` says why; the client keeps trying, and an ok
// CaughtUpEvent follows when a later attempt succeeds.
struct CaughtUpEvent {
  bool ok = true;
  std::uint64_t missed_messages = 0;
  std::string message;
};

// A Login or Register was answered with Redirect, or the server pushed one (the user's home
// moved); the client followed it. Not sent for the hops of an automatic reconnection.
struct RedirectedEvent {
  std::string host;
  std::uint16_t port = 0;
  std::string node;
};

using Event = std::variant<MessageEvent, FriendEvent, PresenceEvent, GroupEvent, DisconnectedEvent,
                           ReconnectedEvent, CaughtUpEvent, RedirectedEvent>;

// Stable snake_case names used by the terminal client's script output.
const char* friend_state_name(FriendState state) noexcept;
const char* group_role_name(GroupRole role) noexcept;
const char* friend_event_kind_name(FriendEventKind kind) noexcept;
const char* group_event_kind_name(GroupEventKind kind) noexcept;

// Progress of an automatic reconnection, for a status line ("home node n3 is down —
// reconnecting (attempt 3, next in 4 s)").
struct ReconnectStatus {
  bool active = false;
  std::string node;           // the node the lost connection was to
  std::uint32_t attempt = 0;  // the attempt waited for or under way (1, 2, ...)
  std::chrono::steady_clock::time_point next_attempt{};  // when it starts
  std::string last_error;  // why the previous attempt failed ("" before the first)
};

// --- Client -----------------------------------------------------------------------------------

// Which calls retry. request_timeout bounds every blocking call as a whole: waiting for a
// session, its attempts and the backoff between them.
//   - Calls that need a session wait while one is being resumed (automatic reconnection, or a
//     login in progress) instead of failing with not_authenticated; without a session and
//     nothing resuming, they fail at once.
//   - Safe to repeat, so repeated after the connection is lost (once the session is back) and
//     after Unavailable (the data's home is down or electing a leader) or RateLimited answers,
//     with backoff: send_to_user/send_to_group (the same client_msg_id: the server stores the
//     message once and answers duplicate = true), ack, sync, pull, history, friends,
//     group_members, my_groups, online_users.
//   - Sent at most once (a repeat is not harmless): friend and group changes,
//     change_password, logout. If the connection is lost after one was sent, it fails saying
//     it may or may not have run. ping neither waits nor repeats: it reports on the connection
//     as it is.
//   - login and register_user follow Redirects and repeat Unavailable answers ("their home is
//     down") with backoff. A failed login never stops an automatic reconnection in progress.
// TLS to the server's client port (on every node this client is sent to, as well).
struct TlsOptions {
  bool enabled = false;
  // PEM file of the certificate authority to trust; empty: the system's trust store.
  std::string ca_file;
  // false: accept any certificate (tests only: it gives up the protection TLS is for).
  bool verify = true;
  // Trust on first use instead of a CA: the first key each server address presents is kept
  // in this file and required from then on (a changed key is refused). Empty: no pinning.
  std::string pin_file;
  // Called when a new address's key is pinned (to tell the user), from the client's thread.
  std::function<void(const std::string& address, const std::string& fingerprint)> on_pinned;
  // A client certificate and its key (PEM), for servers that ask for one (--tls-client-ca).
  std::string certificate_file;
  std::string key_file;
};

struct ClientOptions {
  TlsOptions tls;
  // Every blocking call gives up after this long with Error{unavailable, "timed out ..."}.
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds connect_timeout{10'000};
  // Heartbeats: a Ping goes out once nothing was sent or received for the interval, and when
  // nothing at all comes back within pong_timeout the connection is given up (and, when logged
  // in, resumed). Interval 0: the one the server advertises in HelloOk (3 s by default; a
  // longer one than advertised is shortened to it), or 3 s from an older server.
  std::chrono::milliseconds heartbeat_interval{0};
  std::chrono::milliseconds pong_timeout{3'000};
  // Reconnect with exponential backoff and jitter after a logged-in connection drops. Attempts
  // alternate between the last home and the other nodes this client knows (the one connect()
  // was given, Redirect targets); a node that accepts but does not answer Hello within
  // max(pong_timeout, 2 s) is passed over.
  bool auto_reconnect = true;
  std::uint32_t max_reconnect_attempts = 30;
  std::chrono::milliseconds reconnect_backoff_initial{100};
  std::chrono::milliseconds reconnect_backoff_max{5'000};
  // Backoff between attempts of a call after Unavailable or RateLimited (with jitter).
  std::chrono::milliseconds retry_backoff_initial{50};
  std::chrono::milliseconds retry_backoff_max{1'000};
  // Ack every message this client emits as an event (moves this device's read cursor).
  bool auto_ack = false;
  // Redirect hops followed by one login before giving up.
  std::uint32_t max_redirects = 3;
  // Frames from the server larger than this drop the connection (a page of messages can be
  // larger than the server's own client limit, hence the default).
  std::uint32_t max_frame_bytes = 4 * 1024 * 1024;
  // Bounds: requests in flight, frames queued for writing, events waiting to be consumed.
  std::size_t max_pending_requests = 1024;
  std::size_t max_outbound_frames = 4096;
  std::size_t max_queued_events = 100'000;
  // Pages of messages one backlog or resync pulls per conversation before stopping.
  std::uint32_t max_pages_per_conversation = 1'000;
  std::uint32_t page_limit = 200;
  // In-order delivery (MessageEvent): pushes held above a gap, per conversation and in all,
  // and how long a gap may stay open before its held pushes are given up to a catch-up.
  std::size_t max_held_messages_per_conversation = 256;
  std::size_t max_held_messages = 4'096;
  std::chrono::milliseconds gap_timeout{5'000};
  std::string client_name = "qim-client 0.1.0";
  // When set, events go to this callback (on the client's I/O thread) instead of the queue.
  // REQUIRES: the callback does not call the Client's blocking methods (it would deadlock).
  std::function<void(Event)> on_event;
};

// A blocking client: one connection, one I/O thread. The blocking methods may be called from
// any thread except the I/O thread (i.e. not from on_event); they are safe to call
// concurrently. Destruction closes the connection and joins the I/O thread.
class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects and says Hello. Reconnects if a connection is already open. An automatic
  // reconnection in progress pauses meanwhile, and goes on if this fails.
  Result<ServerInfo> connect(std::string_view host, std::uint16_t port);
  // Closes the connection and stops reconnecting. The Client can connect again afterwards.
  void close();
  bool connected() const;
  bool logged_in() const;
  // A logged-in session was lost and is being resumed automatically.
  bool reconnecting() const;
  ReconnectStatus reconnect_status() const;

  Result<void> register_user(std::string_view user, std::string_view password);
  // Follows Redirect answers (at most options.max_redirects hops). A login that fails while a
  // lost session is being resumed leaves the automatic reconnection going.
  Result<LoginInfo> login(std::string_view user, std::string_view password,
                          std::string_view device);
  Result<LoginInfo> login_with_token(std::string_view user, std::string_view token,
                                     std::string_view device);
  Result<void> logout(bool all_devices = false);
  Result<void> change_password(std::string_view old_password, std::string_view new_password);

  // client_msg_id 0 means "generate one" (monotonic per Client, seeded from the clock).
  Result<SendAck> send_to_user(std::string_view user, std::string_view body,
                               std::uint64_t client_msg_id = 0);
  Result<SendAck> send_to_group(std::string_view group, std::string_view body,
                                std::uint64_t client_msg_id = 0);
  Result<void> ack(std::string_view conversation, std::uint64_t seq);
  Result<std::vector<ConversationState>> sync();
  Result<MessagePage> pull(std::string_view conversation, std::uint64_t after_seq,
                           std::uint32_t limit = 0);
  Result<MessagePage> history(std::string_view conversation, std::uint64_t before_seq = 0,
                              std::uint32_t limit = 0);
  // Sync, then pull every conversation from where this client is (at least this device's read
  // cursor; paging through `more`) and emit the messages as MessageEvents, oldest first, each
  // once even if pushes of them come meanwhile, acking them when auto_ack is on. This is how
  // offline messages arrive. Returns the number of messages it emitted. Its bound is progress:
  // it fails when no answer comes for request_timeout, not after request_timeout in all.
  Result<std::uint64_t> deliver_backlog();

  Result<void> friend_request(std::string_view user);
  Result<void> friend_accept(std::string_view user);
  Result<void> friend_decline(std::string_view user);
  Result<void> friend_remove(std::string_view user);
  Result<std::vector<Friend>> friends();

  Result<void> group_create(std::string_view group, std::string_view name,
                            const std::vector<std::string>& members);
  Result<void> group_add(std::string_view group, const std::vector<std::string>& users);
  Result<void> group_remove(std::string_view group, std::string_view user);
  Result<void> group_set_role(std::string_view group, std::string_view user, GroupRole role);
  Result<void> group_leave(std::string_view group);
  Result<void> group_dissolve(std::string_view group);
  Result<GroupMembers> group_members(std::string_view group);
  Result<std::vector<GroupInfo>> my_groups();

  Result<OnlineUsersPage> online_users(std::string_view after = {}, std::uint32_t limit = 0);
  // Round trip; returns the server's time.
  Result<std::uint64_t> ping();

  // The next event, or nullopt after `timeout`. Not used when options.on_event is set.
  std::optional<Event> next_event(std::chrono::milliseconds timeout);
  // The first queued or future event for which `match` is true, or nullopt after `timeout`.
  // Events that do not match stay queued, in order.
  std::optional<Event> wait_event(const std::function<bool(const Event&)>& match,
                                  std::chrono::milliseconds timeout);
  // Events dropped because the queue was full (a consumer that never reads).
  std::uint64_t dropped_events() const;

  // The server this client is (or was last) connected to, and the session.
  std::string node() const;
  std::string user() const;
  std::string token() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace qim
