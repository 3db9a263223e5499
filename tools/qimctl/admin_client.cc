#include "admin_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "proto/frame.h"

namespace qim::ctl {
namespace {

using admin::AdminFrameBuilder;
using admin::max_admin_frame_bytes;
using admin::verify_admin_envelope;

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Waits until `fd` is ready for `events` or the deadline passed; false on timeout or error.
bool wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd poller{fd, events, 0};
    int ready = ::poll(&poller, 1, remaining_ms(deadline));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

// Connects a non-blocking socket to one address before the deadline; the fd or -1.
int connect_one(const addrinfo& address, std::chrono::steady_clock::time_point deadline,
                std::string& error) {
  int fd = ::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    address.ai_protocol);
  if (fd < 0) {
    error = std::strerror(errno);
    return -1;
  }
  if (::connect(fd, address.ai_addr, address.ai_addrlen) != 0 && errno != EINPROGRESS) {
    error = std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (!wait_ready(fd, POLLOUT, deadline)) {
    error = "timed out";
    ::close(fd);
    return -1;
  }
  int status = 0;
  socklen_t length = sizeof status;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &status, &length) != 0 || status != 0) {
    error = std::strerror(status != 0 ? status : errno);
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

AdminClient::~AdminClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool AdminClient::connect(const std::string& host, std::uint16_t port, const std::string& token,
                          std::string& node_name, std::string& version, AdminFailure& failure) {
  deadline_ = std::chrono::steady_clock::now() + timeout_;
  std::string where = fmt::format("{}:{}", host, port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* addresses = nullptr;
  int resolved = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses);
  if (resolved != 0) {
    failure = {AdminFailure::Kind::unreachable, errc::ok,
               fmt::format("cannot resolve {}: {}", host, ::gai_strerror(resolved))};
    return false;
  }
  std::string error = "no address";
  for (addrinfo* address = addresses; address != nullptr && fd_ < 0; address = address->ai_next) {
    fd_ = connect_one(*address, deadline_, error);
  }
  ::freeaddrinfo(addresses);
  if (fd_ < 0) {
    failure = {AdminFailure::Kind::unreachable, errc::ok,
               fmt::format("cannot connect to the admin endpoint {}: {}", where, error)};
    return false;
  }

  AdminFrameBuilder builder(256);
  auto hello = builder.finish(next_req_id(),
                              admin_wire::CreateAdminHelloDirect(builder.fbb(), token.c_str()));
  ReceivedReply reply;
  if (!send_all(hello, failure) || !receive(reply, failure)) return false;
  if (const auto* error_reply = reply.envelope->body_as_AdminError()) {
    failure = {AdminFailure::Kind::refused, proto::from_wire(error_reply->code()),
               std::string(proto::view(error_reply->message()))};
    return false;
  }
  const auto* hello_ok = reply.envelope->body_as_AdminHelloOk();
  if (hello_ok == nullptr) {
    failure = {AdminFailure::Kind::protocol, errc::ok,
               fmt::format("the node answered AdminHello with {}",
                           admin_wire::EnumNameAdminBody(reply.envelope->body_type()))};
    return false;
  }
  node_name = proto::view(hello_ok->node_name());
  version = proto::view(hello_ok->version());
  return true;
}

bool AdminClient::call(std::span<const std::uint8_t> frame, ReceivedReply& reply,
                       AdminFailure& failure) {
  deadline_ = std::chrono::steady_clock::now() + timeout_;
  if (!send_all(frame, failure) || !receive(reply, failure)) return false;
  if (const auto* error_reply = reply.envelope->body_as_AdminError()) {
    failure = {AdminFailure::Kind::rejected, proto::from_wire(error_reply->code()),
               std::string(proto::view(error_reply->message()))};
    return false;
  }
  return true;
}

bool AdminClient::send_all(std::span<const std::uint8_t> bytes, AdminFailure& failure) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t count = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (count > 0) {
      sent += static_cast<std::size_t>(count);
      continue;
    }
    if (count < 0 && errno == EINTR) continue;
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
        wait_ready(fd_, POLLOUT, deadline_)) {
      continue;
    }
    failure = {AdminFailure::Kind::unreachable, errc::ok,
               count < 0 && errno != EAGAIN && errno != EWOULDBLOCK
                   ? fmt::format("sending to the node failed: {}", std::strerror(errno))
                   : std::string("the node did not take the request in time")};
    return false;
  }
  return true;
}

bool AdminClient::receive(ReceivedReply& reply, AdminFailure& failure) {
  std::uint8_t header[proto::frame_header_bytes];
  if (!read_exact(header, sizeof header, failure)) return false;
  std::uint32_t length = proto::decode_frame_length(header);
  if (length == 0 || length > max_admin_frame_bytes) {
    failure = {AdminFailure::Kind::protocol, errc::ok,
               fmt::format("the node sent a frame of {} bytes", length)};
    return false;
  }
  reply.storage.assign((length + 7) / 8, 0);
  auto* payload = reinterpret_cast<std::uint8_t*>(reply.storage.data());
  if (!read_exact(payload, length, failure)) return false;
  Error error;
  reply.envelope = verify_admin_envelope({payload, length}, error);
  if (reply.envelope == nullptr) {
    failure = {AdminFailure::Kind::protocol, errc::ok,
               fmt::format("the node's reply is invalid: {}", error.message)};
    return false;
  }
  return true;
}

bool AdminClient::read_exact(std::uint8_t* data, std::size_t size, AdminFailure& failure) {
  std::size_t filled = 0;
  while (filled < size) {
    ssize_t count = ::recv(fd_, data + filled, size - filled, 0);
    if (count > 0) {
      filled += static_cast<std::size_t>(count);
      continue;
    }
    if (count == 0) {
      failure = {AdminFailure::Kind::unreachable, errc::ok,
                 "the node closed the connection without an answer"};
      return false;
    }
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_ready(fd_, POLLIN, deadline_)) continue;
    failure = {AdminFailure::Kind::unreachable, errc::ok,
               errno == EAGAIN || errno == EWOULDBLOCK
                   ? std::string("the node did not answer in time")
                   : fmt::format("receiving from the node failed: {}", std::strerror(errno))};
    return false;
  }
  return true;
}

}  // namespace qim::ctl
