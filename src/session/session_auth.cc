// Session set-up: Hello, Register, Login, Logout, ChangePassword, Ping.
#include <memory>

#include "service/push_frames.h"
#include "session/session.h"

namespace qim::session {
namespace {

std::string copy(const flatbuffers::String* s) {
  return std::string(proto::view(s));
}

}  // namespace

void Session::on_hello(std::uint32_t req_id, const wire::Hello& request) {
  if (request.protocol_version() < 1) {
    close_with_error(req_id, errc::unsupported_version,
                     "protocol_version: this node speaks version 1");
    return;
  }
  state_ = State::open;
  const service::Options& options = service_.options();
  auto& fbb = builder_.fbb();
  builder_.reset();
  auto version = fbb.CreateString(server_version.data(), server_version.size());
  auto node = fbb.CreateString(options.node_name);
  send_frame(builder_.finish(
      req_id, wire::CreateHelloOk(fbb, proto::protocol_version, version, node,
                                  options.max_frame_bytes, options.max_body_bytes,
                                  static_cast<std::uint64_t>(service_.clock().wall_ms()),
                                  options.heartbeat_interval_ms)));
}

void Session::on_register(std::uint32_t req_id, const wire::Register& request) {
  if (logged_in()) {
    return send_error(req_id, errc::already_authenticated, "this session is logged in");
  }
  if (auth_in_flight_) {
    return send_error(req_id, errc::rate_limited, "another login or registration is in progress");
  }
  std::string user = copy(request.user()), password = copy(request.password());
  if (Error error = service::ImService::validate_registration(user, password)) {
    return send_error(req_id, error);
  }
  if (redirect_if_elsewhere(req_id, user)) return;
  auth_in_flight_ = true;
  auto outcome = std::make_shared<Error>();  // shared by the two halves of one operation
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, outcome, user = std::move(user), password = std::move(password)] {
        *outcome = service.register_account(user, password);
      },
      [this, req_id, outcome] {
        auth_in_flight_ = false;
        if (state_ == State::closing) return;
        send_status(req_id, *outcome);
      });
}

void Session::on_login(std::uint32_t req_id, const wire::Login& request) {
  if (logged_in()) {
    return send_error(req_id, errc::already_authenticated, "this session is logged in");
  }
  if (auth_in_flight_) {
    return send_error(req_id, errc::rate_limited, "another login or registration is in progress");
  }
  struct Operation {
    std::string user, password, token, device, remote_host;
    service::Result<service::LoginSuccess> result;
  };
  auto operation = std::make_shared<Operation>();
  operation->user = copy(request.user());
  operation->password = copy(request.password());
  operation->token = copy(request.token());
  operation->device = copy(request.device());
  operation->remote_host = connection_.remote_host();
  auto login_request = [](const Operation& op) {
    return service::LoginRequest{op.user, op.password, op.token, op.device, op.remote_host};
  };
  if (Error error = service::ImService::validate_login(login_request(*operation))) {
    return send_error(req_id, error);
  }
  if (redirect_if_elsewhere(req_id, operation->user)) return;
  auth_in_flight_ = true;
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, operation, login_request] {
        operation->result = service.login(login_request(*operation));
      },
      [this, req_id, operation] {
        auth_in_flight_ = false;
        if (state_ == State::closing) return;
        if (!operation->result.ok()) return send_error(req_id, operation->result.error);
        service::LoginSuccess& success = operation->result.value;
        user_ = success.grant.user;
        device_ = success.grant.device;
        token_digest_ = success.token_digest;
        auto& fbb = builder_.fbb();
        builder_.reset();
        auto user = fbb.CreateString(user_);
        auto device = fbb.CreateString(device_);
        auto token = fbb.CreateString(success.grant.token);
        auto node = fbb.CreateString(service_.options().node_name);
        send_frame(builder_.finish(
            req_id, wire::CreateLoginOk(fbb, user, device, token, node,
                                        static_cast<std::uint64_t>(service_.clock().wall_ms()))));
        // After LoginOk, so the client sees it before any push to the new session.
        service_.bring_online(caller(), connection_);
      });
}

bool Session::redirect_if_elsewhere(std::uint32_t req_id, std::string_view user) {
  // Checked before any password work: a node spends no hashing on users it does not serve.
  auto home = service_.home_elsewhere(user);
  if (!home) return false;
  if (!home->up) {
    send_error(req_id, errc::unavailable,
               "user: their home node " + home->name + " is down; retry later");
    return true;
  }
  send_frame(service::encode_redirect(builder_, req_id, *home));
  return true;
}

void Session::on_logout(std::uint32_t req_id, const wire::Logout& request) {
  Error error = service_.logout(caller(), request.all_devices(), token_digest_);
  if (error) return send_error(req_id, error);
  send_ok(req_id);
  state_ = State::closing;
  connection_.close_after_flush();
}

void Session::on_change_password(std::uint32_t req_id, const wire::ChangePassword& request) {
  if (auth_in_flight_) {
    return send_error(req_id, errc::rate_limited, "another password operation is in progress");
  }
  struct Operation {
    std::string user, old_password, new_password, remote_host, device;
    std::uint64_t session_id;
    auth::TokenDigest keep;
    Error result;
  };
  auto operation = std::make_shared<Operation>();
  operation->user = user_;
  operation->device = device_;
  operation->session_id = session_id_;
  operation->old_password = copy(request.old_password());
  operation->new_password = copy(request.new_password());
  operation->remote_host = connection_.remote_host();
  operation->keep = token_digest_;
  auth_in_flight_ = true;
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, operation] {
        Operation& op = *operation;
        op.result =
            service.change_password(service::Caller{op.user, op.device, op.session_id},
                                    op.old_password, op.new_password, op.keep, op.remote_host);
      },
      [this, req_id, operation] {
        auth_in_flight_ = false;
        if (state_ == State::closing) return;
        send_status(req_id, operation->result);
      });
}

void Session::on_ping(std::uint32_t req_id, const wire::Ping& request) {
  builder_.reset();
  send_frame(builder_.finish(
      req_id, wire::CreatePong(builder_.fbb(), request.nonce(),
                               static_cast<std::uint64_t>(service_.clock().wall_ms()))));
}

}  // namespace qim::session
