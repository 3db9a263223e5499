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
  auto addresses = [&](service::ImService::Port port) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> strings;
    for (const std::string& address : service_.cluster_addresses(16, port))
      strings.push_back(fbb.CreateString(address));
    return fbb.CreateVector(strings);
  };
  auto cluster_nodes = addresses(service::ImService::Port::client);
  auto cluster_ws_nodes = addresses(service::ImService::Port::websocket);
  send_frame(builder_.finish(
      req_id, wire::CreateHelloOk(fbb, proto::protocol_version, version, node,
                                  options.max_frame_bytes, options.max_body_bytes,
                                  static_cast<std::uint64_t>(service_.clock().wall_ms()),
                                  options.heartbeat_interval_ms, cluster_nodes, cluster_ws_nodes)));
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
  // At the user's home, before any hashing.
  if (Error refused = service_.admit_registration(connection_.remote_host())) {
    service_.request_metrics().count_registration(false);
    return send_error(req_id, refused);
  }
  auth_in_flight_ = true;
  // The hash runs on the blocking pool, then the registration is proposed from there.
  auto outcome = std::make_shared<AsyncReply<Error>>();
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, outcome, user = std::move(user), password = std::move(password)] {
        service.register_account(user, password,
                                 [outcome](Error error) { outcome->deliver(std::move(error)); });
      },
      [this, req_id, outcome] {
        resume<Error>(req_id, outcome, [this, req_id](const Error& error) {
          auth_in_flight_ = false;
          service_.request_metrics().count_registration(!error);
          send_status(req_id, error);
        });
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
  };
  using LoginOutcome = service::Result<service::LoginSuccess>;
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
  auto outcome = std::make_shared<AsyncReply<LoginOutcome>>();
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, operation, outcome, login_request] {
        service.login(login_request(*operation),
                      [outcome](LoginOutcome result) { outcome->deliver(std::move(result)); });
      },
      [this, req_id, outcome] {
        resume<LoginOutcome>(req_id, outcome, [this, req_id](const LoginOutcome& result) {
          auth_in_flight_ = false;
          on_logged_in(req_id, result);
        });
      });
}

void Session::on_logged_in(std::uint32_t req_id,
                           const service::Result<service::LoginSuccess>& result) {
  service_.request_metrics().count_login(result.ok());
  if (!result.ok()) return send_error(req_id, result.error);
  const service::LoginSuccess& success = result.value;
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
  call<Error>(
      req_id,
      [&](auto done) {
        service_.logout(caller(), request.all_devices(), token_digest_, std::move(done));
      },
      [this, req_id](const Error& error) {
        if (error) return send_error(req_id, error);
        send_ok(req_id);
        state_ = State::closing;
        connection_.close_after_flush();
      });
}

void Session::on_change_password(std::uint32_t req_id, const wire::ChangePassword& request) {
  if (auth_in_flight_) {
    return send_error(req_id, errc::rate_limited, "another password operation is in progress");
  }
  struct Operation {
    std::string user, old_password, new_password, remote_host, device;
    std::uint64_t session_id;
    auth::TokenDigest keep;
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
  auto outcome = std::make_shared<AsyncReply<Error>>();
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, operation, outcome] {
        Operation& op = *operation;
        service.change_password(service::Caller{op.user, op.device, op.session_id}, op.old_password,
                                op.new_password, op.keep, op.remote_host,
                                [outcome](Error error) { outcome->deliver(std::move(error)); });
      },
      [this, req_id, outcome] {
        resume<Error>(req_id, outcome, [this, req_id](const Error& error) {
          auth_in_flight_ = false;
          send_status(req_id, error);
        });
      });
}

void Session::on_ping(std::uint32_t req_id, const wire::Ping& request) {
  builder_.reset();
  send_frame(builder_.finish(
      req_id, wire::CreatePong(builder_.fbb(), request.nonce(),
                               static_cast<std::uint64_t>(service_.clock().wall_ms()))));
}

}  // namespace qim::session
