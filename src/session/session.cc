#include "session/session.h"

#include <algorithm>
#include <chrono>

namespace qim::session {

Session::Session(service::ImService& service, Connection& connection)
    : service_(service),
      connection_(connection),
      session_id_(service.attach(connection)),
      write_budget_(std::max(service.options().messages_per_second, 0.001),
                    std::max(service.options().message_burst, 1.0),
                    service.clock().monotonic_ms()) {}

Session::Session(service::ImService& service, Connection& connection, const service::Caller& caller)
    : service_(service),
      connection_(connection),
      session_id_(caller.session_id),
      detached_(true),
      state_(State::open),
      user_(caller.user),
      device_(caller.device),
      // The session that sent the request already spent its budget on it.
      write_budget_(1.0, 1.0, service.clock().monotonic_ms()) {}

proto::FrameBuilder& Session::SharedBuilder::builder() {
  thread_local proto::FrameBuilder builder;
  return builder;
}

Session::~Session() {
  // The shell calls on_close first; this keeps the registry clean if it did not.
  if (!closed_) on_close();
}

void Session::on_close() {
  if (closed_) return;
  closed_ = true;
  state_ = State::closing;
  if (!detached_) service_.detach(session_id_, user_);
}

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void Session::start_timing(std::uint32_t req_id, std::uint8_t operation) {
  if (detached_ || req_id == 0 || timings_.size() >= max_timed_requests) return;
  timings_.push_back({req_id, operation, now_ns()});
}

void Session::finish_timing(std::span<const std::uint8_t> frame) {
  if (timings_.empty() || frame.size() <= proto::frame_header_bytes) return;
  // Our own frame, built and finished here: its root needs no verification.
  std::uint32_t req_id =
      flatbuffers::GetRoot<wire::Envelope>(frame.data() + proto::frame_header_bytes)->req_id();
  if (req_id == 0) return;  // a push
  for (auto it = timings_.begin(); it != timings_.end(); ++it) {
    if (it->req_id != req_id) continue;
    service_.request_metrics().observe(it->operation, now_ns() - it->start_ns);
    timings_.erase(it);
    return;
  }
}

void Session::send_frame(std::span<const std::uint8_t> frame) {
  finish_timing(frame);
  // A full queue makes the shell close the connection; nothing more to do here.
  connection_.send(frame);
}

void Session::send_error(std::uint32_t req_id, errc code, std::string_view message) {
  service_.request_metrics().count_error(code);
  send_frame(builder_.error(req_id, code, message));
}

void Session::send_ok(std::uint32_t req_id) {
  builder_.reset();
  send_frame(builder_.finish(req_id, wire::CreateOk(builder_.fbb())));
}

void Session::send_status(std::uint32_t req_id, const Error& error) {
  if (error) {
    send_error(req_id, error);
  } else {
    send_ok(req_id);
  }
}

void Session::close_with_error(std::uint32_t req_id, errc code, std::string_view message) {
  send_error(req_id, code, message);
  state_ = State::closing;
  connection_.close_after_flush();
}

bool Session::require_login(std::uint32_t req_id) {
  if (logged_in()) return true;
  send_error(req_id, errc::not_authenticated, "this request needs a logged-in session");
  return false;
}

bool Session::take_write_budget(std::uint32_t req_id) {
  // A detached session serves a request whose own session already paid for it.
  if (detached_) return true;
  if (write_budget_.try_take(service_.clock().monotonic_ms())) return true;
  send_error(req_id, errc::rate_limited, "too many requests on this session; slow down");
  return false;
}

void Session::on_frame(std::span<const std::uint8_t> payload) {
  if (state_ == State::closing) return;
  service_.count_request();
  Error error;
  const wire::Envelope* envelope = proto::verify_envelope(payload, error);
  if (!envelope) {
    close_with_error(0, errc::malformed, error.message);
    return;
  }
  std::uint32_t req_id = envelope->req_id();
  if (state_ == State::awaiting_hello) {
    if (envelope->body_type() != wire::Body::Hello) {
      close_with_error(req_id, errc::hello_required, "the first frame must be Hello");
      return;
    }
    on_hello(req_id, *envelope->body_as_Hello());
    return;
  }
  current_payload_ = payload;
  dispatch(req_id, *envelope);
  current_payload_ = {};
}

void Session::on_detached_frame(std::span<const std::uint8_t> payload) {
  Error error;
  const wire::Envelope* envelope = proto::verify_envelope(payload, error);
  if (!envelope) return send_error(0, errc::malformed, error.message);
  dispatch(envelope->req_id(), *envelope);
}

void Session::dispatch(std::uint32_t req_id, const wire::Envelope& envelope) {
  using wire::Body;
  Body type = envelope.body_type();
  start_timing(req_id, static_cast<std::uint8_t>(type));
  // Requests that work before login.
  switch (type) {
    case Body::Register:
      return on_register(req_id, *envelope.body_as_Register());
    case Body::Login:
      return on_login(req_id, *envelope.body_as_Login());
    case Body::Ping:
      return on_ping(req_id, *envelope.body_as_Ping());
    case Body::Hello:
      return send_error(req_id, errc::unexpected_message, "Hello was already received");
    case Body::Logout:
    case Body::ChangePassword:
    case Body::Send:
    case Body::Ack:
    case Body::Sync:
    case Body::Pull:
    case Body::History:
    case Body::FriendRequest:
    case Body::FriendAccept:
    case Body::FriendDecline:
    case Body::FriendRemove:
    case Body::FriendList:
    case Body::GroupCreate:
    case Body::GroupAdd:
    case Body::GroupRemove:
    case Body::GroupSetRole:
    case Body::GroupLeave:
    case Body::GroupDissolve:
    case Body::GroupMembers:
    case Body::MyGroups:
    case Body::OnlineUsers:
      break;
    default:
      // Server-to-client messages and union members this node does not know.
      return send_error(req_id, errc::unexpected_message, "body: not a request this node accepts");
  }
  if (!require_login(req_id)) return;
  if (routed_elsewhere(req_id, envelope)) return;
  switch (type) {
    case Body::Logout:
      return on_logout(req_id, *envelope.body_as_Logout());
    case Body::ChangePassword:
      return on_change_password(req_id, *envelope.body_as_ChangePassword());
    case Body::Send:
      return on_send(req_id, *envelope.body_as_Send());
    case Body::Ack:
      return on_ack(req_id, *envelope.body_as_Ack());
    case Body::Sync:
      return on_sync(req_id);
    case Body::Pull:
      return on_pull(req_id, *envelope.body_as_Pull());
    case Body::History:
      return on_history(req_id, *envelope.body_as_History());
    case Body::FriendRequest:
      return on_friend(req_id, type, envelope.body_as_FriendRequest()->user());
    case Body::FriendAccept:
      return on_friend(req_id, type, envelope.body_as_FriendAccept()->user());
    case Body::FriendDecline:
      return on_friend(req_id, type, envelope.body_as_FriendDecline()->user());
    case Body::FriendRemove:
      return on_friend(req_id, type, envelope.body_as_FriendRemove()->user());
    case Body::FriendList:
      return on_friend_list(req_id);
    case Body::GroupCreate:
      return on_group_create(req_id, *envelope.body_as_GroupCreate());
    case Body::GroupAdd:
      return on_group_add(req_id, *envelope.body_as_GroupAdd());
    case Body::GroupRemove:
      return on_group_remove(req_id, *envelope.body_as_GroupRemove());
    case Body::GroupSetRole:
      return on_group_set_role(req_id, *envelope.body_as_GroupSetRole());
    case Body::GroupLeave:
      return on_group_leave(req_id, *envelope.body_as_GroupLeave());
    case Body::GroupDissolve:
      return on_group_dissolve(req_id, *envelope.body_as_GroupDissolve());
    case Body::GroupMembers:
      return on_group_members(req_id, *envelope.body_as_GroupMembers());
    case Body::MyGroups:
      return on_my_groups(req_id);
    case Body::OnlineUsers:
      return on_online_users(req_id, *envelope.body_as_OnlineUsers());
    default:
      return send_error(req_id, errc::internal, "unhandled request");
  }
}

}  // namespace qim::session
