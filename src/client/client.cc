#include "qim/client.h"

#include <algorithm>

#include "client/client_impl.h"

namespace qim {

using client::Frame;

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

// --- Impl: construction, shutdown, events ----------------------------------------------------

namespace {

client::DeliveryLimits delivery_limits(const ClientOptions& options) {
  client::DeliveryLimits limits;
  limits.max_held_per_conversation = options.max_held_messages_per_conversation;
  limits.max_held = options.max_held_messages;
  limits.page_limit = options.page_limit;
  limits.max_pages_per_catch_up = options.max_pages_per_conversation;
  limits.gap_timeout = options.gap_timeout;
  limits.retry_initial = std::max(options.retry_backoff_initial, std::chrono::milliseconds(1));
  limits.retry_max = std::max(options.retry_backoff_max, limits.retry_initial);
  return limits;
}

}  // namespace

Client::Impl::Impl(ClientOptions options)
    : options_(std::move(options)),
      work_(asio::make_work_guard(io_)),
      reconnect_timer_(io_),
      session_changed_(io_.get_executor()),
      progress_(io_.get_executor()),
      acks_changed_(io_.get_executor()),
      shutdown_(io_.get_executor()),
      random_(std::random_device{}()),
      delivery_(delivery_limits(options_)),
      delivery_timer_(io_, TimePoint::max()) {
  // Seeded from the clock so a restarted client does not reuse ids the server remembers.
  next_client_msg_id_ =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  asio::co_spawn(io_, delivery_clock(), asio::detached);
  thread_ = std::thread([this] { io_.run(); });
}

Client::Impl::~Impl() {
  asio::post(io_, [this] {
    stopping_ = true;
    ++generation_;
    stop_reconnecting();
    delivery_.on_session_lost();
    delivery_timer_.cancel();
    drop_connection();
    session_changed_.notify_all();
    progress_.notify_all();
    acks_changed_.notify_all();
    shutdown_.notify_all();
  });
  work_.reset();
  thread_.join();
}

Client::Impl::Summary Client::Impl::summary() const {
  std::lock_guard lock(summary_mutex_);
  return summary_;
}

void Client::Impl::emit(Event event) {
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

std::optional<Event> Client::Impl::wait_event(const std::function<bool(const Event&)>& match,
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

std::uint64_t Client::Impl::dropped_events() const {
  std::lock_guard lock(events_mutex_);
  return dropped_events_;
}

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
bool Client::reconnecting() const {
  return impl_->reconnecting();
}

ReconnectStatus Client::reconnect_status() const {
  return impl_->reconnect_status();
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
      },
      Retry::once);
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
  return impl_->blocking_ok(client::ack_writer(std::string(conversation), seq), Retry::idempotent);
}

Result<std::vector<ConversationState>> Client::sync() {
  return impl_->blocking<std::vector<ConversationState>>(
      [](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreateSync(builder.fbb()));
      },
      Retry::idempotent,
      [](const Frame& frame) -> Result<std::vector<ConversationState>> {
        const auto* sync = frame.envelope->body_as_SyncResult();
        if (sync == nullptr) return client::unexpected_reply(frame, "SyncResult");
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
  return impl_->blocking<MessagePage>(
      client::pull_writer(std::string(conversation), after_seq, limit), Retry::idempotent,
      client::parse_page);
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
      Retry::idempotent, client::parse_page);
}

Result<std::uint64_t> Client::deliver_backlog() {
  return impl_->deliver_backlog();
}

Result<void> Client::friend_request(std::string_view user) {
  return impl_->blocking_ok(
      client::single_string_writer(
          std::string(user),
          [](auto& fbb, auto text) { return wire::CreateFriendRequest(fbb, text); }),
      Retry::once);
}
Result<void> Client::friend_accept(std::string_view user) {
  return impl_->blocking_ok(
      client::single_string_writer(
          std::string(user),
          [](auto& fbb, auto text) { return wire::CreateFriendAccept(fbb, text); }),
      Retry::once);
}
Result<void> Client::friend_decline(std::string_view user) {
  return impl_->blocking_ok(
      client::single_string_writer(
          std::string(user),
          [](auto& fbb, auto text) { return wire::CreateFriendDecline(fbb, text); }),
      Retry::once);
}
Result<void> Client::friend_remove(std::string_view user) {
  return impl_->blocking_ok(
      client::single_string_writer(
          std::string(user),
          [](auto& fbb, auto text) { return wire::CreateFriendRemove(fbb, text); }),
      Retry::once);
}

Result<std::vector<Friend>> Client::friends() {
  return impl_->blocking<std::vector<Friend>>(
      [](proto::FrameBuilder& builder, std::uint32_t id) {
        return builder.finish(id, wire::CreateFriendList(builder.fbb()));
      },
      Retry::idempotent,
      [](const Frame& frame) -> Result<std::vector<Friend>> {
        const auto* list = frame.envelope->body_as_FriendListResult();
        if (list == nullptr) return client::unexpected_reply(frame, "FriendListResult");
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
  return impl_->blocking_ok(
      [group = std::string(group), name = std::string(name), members](proto::FrameBuilder& builder,
                                                                      std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto group_offset = fbb.CreateString(group);
        auto name_offset = name.empty() ? 0 : fbb.CreateString(name);
        auto members_offset = client::string_vector(fbb, members);
        return builder.finish(
            id, wire::CreateGroupCreate(fbb, group_offset, name_offset, members_offset));
      },
      Retry::once);
}

Result<void> Client::group_add(std::string_view group, const std::vector<std::string>& users) {
  return impl_->blocking_ok(
      [group = std::string(group), users](proto::FrameBuilder& builder, std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto group_offset = fbb.CreateString(group);
        auto users_offset = client::string_vector(fbb, users);
        return builder.finish(id, wire::CreateGroupAdd(fbb, group_offset, users_offset));
      },
      Retry::once);
}

Result<void> Client::group_remove(std::string_view group, std::string_view user) {
  return impl_->blocking_ok(
      [group = std::string(group), user = std::string(user)](proto::FrameBuilder& builder,
                                                             std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto group_offset = fbb.CreateString(group);
        auto user_offset = fbb.CreateString(user);
        return builder.finish(id, wire::CreateGroupRemove(fbb, group_offset, user_offset));
      },
      Retry::once);
}

Result<void> Client::group_set_role(std::string_view group, std::string_view user, GroupRole role) {
  return impl_->blocking_ok(
      [group = std::string(group), user = std::string(user), role](proto::FrameBuilder& builder,
                                                                   std::uint32_t id) {
        auto& fbb = builder.fbb();
        auto group_offset = fbb.CreateString(group);
        auto user_offset = fbb.CreateString(user);
        return builder.finish(id, wire::CreateGroupSetRole(fbb, group_offset, user_offset,
                                                           static_cast<wire::GroupRole>(role)));
      },
      Retry::once);
}

Result<void> Client::group_leave(std::string_view group) {
  return impl_->blocking_ok(client::single_string_writer(std::string(group),
                                                         [](auto& fbb, auto text) {
                                                           return wire::CreateGroupLeave(fbb, text);
                                                         }),
                            Retry::once);
}

Result<void> Client::group_dissolve(std::string_view group) {
  return impl_->blocking_ok(
      client::single_string_writer(
          std::string(group),
          [](auto& fbb, auto text) { return wire::CreateGroupDissolve(fbb, text); }),
      Retry::once);
}

Result<GroupMembers> Client::group_members(std::string_view group) {
  return impl_->blocking<GroupMembers>(
      client::single_string_writer(
          std::string(group),
          [](auto& fbb, auto text) { return wire::CreateGroupMembers(fbb, text); }),
      Retry::idempotent, [](const Frame& frame) -> Result<GroupMembers> {
        const auto* result = frame.envelope->body_as_GroupMembersResult();
        if (result == nullptr) return client::unexpected_reply(frame, "GroupMembersResult");
        GroupMembers out;
        if (result->info() != nullptr) out.info = client::group_info_from_wire(*result->info());
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
      Retry::idempotent,
      [](const Frame& frame) -> Result<std::vector<GroupInfo>> {
        const auto* result = frame.envelope->body_as_MyGroupsResult();
        if (result == nullptr) return client::unexpected_reply(frame, "MyGroupsResult");
        std::vector<GroupInfo> groups;
        if (result->groups() != nullptr) {
          for (const auto* info : *result->groups()) {
            if (info != nullptr) groups.push_back(client::group_info_from_wire(*info));
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
      Retry::idempotent,
      [](const Frame& frame) -> Result<OnlineUsersPage> {
        const auto* result = frame.envelope->body_as_OnlineUsersResult();
        if (result == nullptr) return client::unexpected_reply(frame, "OnlineUsersResult");
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
      Retry::connection,
      [](const Frame& frame) -> Result<std::uint64_t> {
        const auto* pong = frame.envelope->body_as_Pong();
        if (pong == nullptr) return client::unexpected_reply(frame, "Pong");
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
