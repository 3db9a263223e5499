#include "e2e_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <catch2/catch.hpp>

namespace qim::e2e {

ClientOptions test_client_options() {
  ClientOptions options;
  options.request_timeout = std::chrono::seconds(15);
  options.connect_timeout = std::chrono::seconds(15);
  options.auto_reconnect = false;
  options.client_name = "qim-e2e";
  return options;
}

std::unique_ptr<ServerProcess> started_server(ServerOptions options) {
  auto server = std::make_unique<ServerProcess>(std::move(options));
  bool started = server->start();
  INFO("qimd start: " << server->error());
  REQUIRE(started);
  return server;
}

std::unique_ptr<Client> connected_client(const ServerProcess& server, ClientOptions options) {
  auto client = std::make_unique<Client>(std::move(options));
  auto info = client->connect(server.host(), server.port());
  INFO("connect: " << (info ? std::string() : info.error().message));
  REQUIRE(info.ok());
  return client;
}

void register_user(const ServerProcess& server, const std::string& user, ClientOptions options) {
  auto client = connected_client(server, std::move(options));
  auto done = client->register_user(user, test_password);
  INFO("register " << user << ": " << (done ? std::string() : done.error().message));
  REQUIRE(done.ok());
}

std::unique_ptr<Client> logged_in_client(const ServerProcess& server, const std::string& user,
                                         const std::string& device, ClientOptions options) {
  auto client = connected_client(server, std::move(options));
  auto info = client->login(user, test_password, device);
  INFO("login " << user << ": " << (info ? std::string() : info.error().message));
  REQUIRE(info.ok());
  return client;
}

void make_friends(Client& a, Client& b) {
  auto requested = a.friend_request(b.user());
  INFO("friend_request: " << (requested ? std::string() : requested.error().message));
  REQUIRE(requested.ok());
  auto request_event = next_friend_event(b);
  REQUIRE(request_event);
  REQUIRE(request_event->kind == FriendEventKind::requested);
  auto accepted = b.friend_accept(a.user());
  INFO("friend_accept: " << (accepted ? std::string() : accepted.error().message));
  REQUIRE(accepted.ok());
  auto accept_event = next_friend_event(a);
  REQUIRE(accept_event);
  REQUIRE(accept_event->kind == FriendEventKind::accepted);
}

std::optional<Message> next_message(Client& client, const std::string& conversation,
                                    std::chrono::milliseconds timeout) {
  auto event = client.wait_event(
      [&](const Event& candidate) {
        const auto* message = std::get_if<MessageEvent>(&candidate);
        return message != nullptr &&
               (conversation.empty() || message->message.conversation == conversation);
      },
      timeout);
  if (!event) return std::nullopt;
  return std::get<MessageEvent>(*event).message;
}

std::optional<FriendEvent> next_friend_event(Client& client) {
  auto event = client.wait_event(
      [](const Event& candidate) { return std::holds_alternative<FriendEvent>(candidate); },
      event_timeout);
  if (!event) return std::nullopt;
  return std::get<FriendEvent>(*event);
}

std::optional<PresenceEvent> next_presence(Client& client, const std::string& user, bool online) {
  auto event = client.wait_event(
      [&](const Event& candidate) {
        const auto* presence = std::get_if<PresenceEvent>(&candidate);
        return presence != nullptr && presence->user == user && presence->online == online;
      },
      event_timeout);
  if (!event) return std::nullopt;
  return std::get<PresenceEvent>(*event);
}

std::optional<GroupEvent> next_group_event(Client& client, const std::string& group) {
  auto event = client.wait_event(
      [&](const Event& candidate) {
        const auto* group_event = std::get_if<GroupEvent>(&candidate);
        return group_event != nullptr && group_event->group == group;
      },
      event_timeout);
  if (!event) return std::nullopt;
  return std::get<GroupEvent>(*event);
}

// --- RawConnection --------------------------------------------------------------------------

RawConnection::RawConnection(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) return;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send_bytes(std::span<const std::uint8_t> bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

void RawConnection::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

bool RawConnection::read_exact(std::uint8_t* data, std::size_t size,
                               std::chrono::steady_clock::time_point deadline, ReadStatus& status) {
  std::size_t got = 0;
  while (got < size) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      status = ReadStatus::timeout;
      return false;
    }
    pollfd descriptor{fd_, POLLIN, 0};
    int ready = ::poll(&descriptor, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) continue;
    ssize_t n = ::recv(fd_, data + got, size - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = ReadStatus::closed;  // end of stream or reset
      return false;
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

RawConnection::ReadResult RawConnection::read_frame(std::chrono::milliseconds timeout) {
  ReadResult result;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::uint8_t header[proto::frame_header_bytes];
  if (!read_exact(header, sizeof(header), deadline, result.status)) return result;
  std::uint32_t length = proto::decode_frame_length(header);
  if (length > proto::default_peer_max_frame_bytes) {
    result.status = ReadStatus::bad_frame;
    return result;
  }
  result.storage.resize((length + 7) / 8);
  if (!read_exact(reinterpret_cast<std::uint8_t*>(result.storage.data()), length, deadline,
                  result.status)) {
    return result;
  }
  Error error;
  result.envelope = proto::verify_envelope(
      {reinterpret_cast<const std::uint8_t*>(result.storage.data()), length}, error);
  result.status = result.envelope ? ReadStatus::frame : ReadStatus::bad_frame;
  return result;
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    auto frame = read_frame(left);
    if (frame.status == ReadStatus::closed) return true;
    if (frame.status == ReadStatus::timeout) return false;
  }
}

void RawConnection::hello() {
  REQUIRE(send_frame(hello_frame(1)));
  auto reply = read_frame();
  REQUIRE(reply.status == ReadStatus::frame);
  REQUIRE(reply.envelope->body_type() == wire::Body::HelloOk);
  REQUIRE(reply.envelope->req_id() == 1);
}

std::vector<std::uint8_t> hello_frame(std::uint32_t req_id) {
  proto::FrameBuilder builder;
  auto& fbb = builder.fbb();
  auto name = fbb.CreateString("raw-e2e");
  auto bytes = builder.finish(req_id, wire::CreateHello(fbb, proto::protocol_version, name));
  return {bytes.begin(), bytes.end()};
}

std::vector<std::uint8_t> login_frame(std::uint32_t req_id, const std::string& user,
                                      const std::string& password, const std::string& device) {
  proto::FrameBuilder builder;
  auto& fbb = builder.fbb();
  auto user_offset = fbb.CreateString(user);
  auto password_offset = fbb.CreateString(password);
  auto device_offset = fbb.CreateString(device);
  auto bytes = builder.finish(
      req_id, wire::CreateLogin(fbb, user_offset, password_offset, 0, device_offset));
  return {bytes.begin(), bytes.end()};
}

std::vector<std::uint8_t> send_frame(std::uint32_t req_id, const std::string& to_user,
                                     const std::string& body, std::uint64_t client_msg_id) {
  proto::FrameBuilder builder;
  auto& fbb = builder.fbb();
  auto user = fbb.CreateString(to_user);
  auto bytes_offset =
      fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
  auto bytes = builder.finish(req_id, wire::CreateSend(fbb, user, 0, client_msg_id, bytes_offset));
  return {bytes.begin(), bytes.end()};
}

std::optional<errc> error_code(const RawConnection::ReadResult& frame) {
  if (frame.status != RawConnection::ReadStatus::frame) return std::nullopt;
  const auto* error = frame.envelope->body_as_Error();
  if (error == nullptr) return std::nullopt;
  return proto::from_wire(error->code());
}

}  // namespace qim::e2e
