#include "ws_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace qim::test {

namespace {

using Clock = std::chrono::steady_clock;

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::vector<std::uint8_t> ws_client_frame(std::uint8_t opcode,
                                          std::span<const std::uint8_t> payload, bool fin,
                                          bool masked, std::uint32_t mask) {
  std::vector<std::uint8_t> frame;
  frame.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | opcode));
  std::uint8_t mask_bit = masked ? 0x80 : 0;
  if (payload.size() < 126) {
    frame.push_back(static_cast<std::uint8_t>(mask_bit | payload.size()));
  } else if (payload.size() <= 0xFFFF) {
    frame.push_back(mask_bit | 126);
    frame.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
    frame.push_back(static_cast<std::uint8_t>(payload.size()));
  } else {
    frame.push_back(mask_bit | 127);
    for (int index = 7; index >= 0; --index)
      frame.push_back(static_cast<std::uint8_t>(std::uint64_t{payload.size()} >> (8 * index)));
  }
  std::uint8_t key[4] = {static_cast<std::uint8_t>(mask >> 24),
                         static_cast<std::uint8_t>(mask >> 16),
                         static_cast<std::uint8_t>(mask >> 8), static_cast<std::uint8_t>(mask)};
  if (masked) frame.insert(frame.end(), key, key + 4);
  for (std::size_t index = 0; index < payload.size(); ++index)
    frame.push_back(masked ? payload[index] ^ key[index & 3] : payload[index]);
  return frame;
}

std::uint16_t WsTestClient::Frame::close_code() const {
  if (opcode != 0x8 || payload.size() < 2) return 0;
  return static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
}

WsTestClient::~WsTestClient() {
  if (ssl_) SSL_free(ssl_);
  if (context_) SSL_CTX_free(context_);
  if (fd_ >= 0) ::close(fd_);
}

bool WsTestClient::connect(const WsConnectOptions& options, std::string& error) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(options.port);
  if (fd_ < 0 || ::inet_pton(AF_INET, options.host.c_str(), &address.sin_addr) != 1 ||
      ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    error = "cannot connect to " + options.host + ":" + std::to_string(options.port) + ": " +
            std::strerror(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  host_header_ = options.host + ":" + std::to_string(options.port);
  if (options.ca_file.empty()) return true;
  context_ = SSL_CTX_new(TLS_client_method());
  if (!context_ || SSL_CTX_load_verify_locations(context_, options.ca_file.c_str(), nullptr) != 1) {
    error = "cannot load CA " + options.ca_file;
    return false;
  }
  SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
  ssl_ = SSL_new(context_);
  SSL_set_fd(ssl_, fd_);
  SSL_set1_host(ssl_, options.host.c_str());
  if (SSL_connect(ssl_) != 1) {
    error = "TLS handshake failed";
    return false;
  }
  return true;
}

bool WsTestClient::send_bytes(std::span<const std::uint8_t> bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    long count = ssl_ ? SSL_write(ssl_, bytes.data() + sent, static_cast<int>(bytes.size() - sent))
                      : ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (count < 0 && !ssl_ && errno == EINTR) continue;
    if (count <= 0) return false;
    sent += static_cast<std::size_t>(count);
  }
  return true;
}

long WsTestClient::receive(std::uint8_t* data, std::size_t size, Clock::time_point deadline) {
  if (!buffered_.empty()) {
    std::size_t take = std::min(size, buffered_.size());
    std::memcpy(data, buffered_.data(), take);
    buffered_.erase(buffered_.begin(), buffered_.begin() + static_cast<std::ptrdiff_t>(take));
    return static_cast<long>(take);
  }
  for (;;) {
    if (!ssl_ || SSL_pending(ssl_) == 0) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return -2;
      pollfd descriptor{fd_, POLLIN, 0};
      int ready = ::poll(&descriptor, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) continue;
    }
    if (ssl_) {
      int count = SSL_read(ssl_, data, static_cast<int>(size));
      if (count > 0) return count;
      int reason = SSL_get_error(ssl_, count);
      if (reason == SSL_ERROR_WANT_READ) continue;
      return reason == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    ssize_t count = ::recv(fd_, data, size, 0);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) return -1;
    return count;
  }
}

int WsTestClient::http(const std::string& request) {
  head_.clear();
  body_.clear();
  if (!send_bytes({reinterpret_cast<const std::uint8_t*>(request.data()), request.size()})) {
    return 0;
  }
  auto deadline = Clock::now() + std::chrono::seconds(15);
  std::string received;
  std::size_t end = std::string::npos;
  while ((end = received.find("\r\n\r\n")) == std::string::npos) {
    std::uint8_t chunk[4096];
    long count = receive(chunk, sizeof chunk, deadline);
    if (count <= 0) return 0;
    received.append(reinterpret_cast<const char*>(chunk), static_cast<std::size_t>(count));
  }
  head_ = received.substr(0, end + 2);
  std::string rest = received.substr(end + 4);
  int status = 0;
  if (head_.size() > 12 && head_.compare(0, 9, "HTTP/1.1 ") == 0) {
    status = std::atoi(head_.c_str() + 9);
  }
  if (status == 101) {
    buffered_.assign(rest.begin(), rest.end());
    return status;
  }
  std::size_t length = 0;
  if (auto value = response_header("Content-Length")) length = std::stoul(*value);
  bool head_request = request.compare(0, 5, "HEAD ") == 0;
  if (head_request) length = 0;
  while (rest.size() < length) {
    std::uint8_t chunk[16384];
    long count = receive(chunk, sizeof chunk, deadline);
    if (count <= 0) break;
    rest.append(reinterpret_cast<const char*>(chunk), static_cast<std::size_t>(count));
  }
  body_ = rest;
  return status;
}

int WsTestClient::upgrade(const std::string& path, const std::string& origin) {
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: " + host_header_ +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\n";
  if (!origin.empty()) request += "Origin: " + origin + "\r\n";
  request += "\r\n";
  return http(request);
}

std::optional<std::string> WsTestClient::response_header(const std::string& name) const {
  std::size_t at = 0;
  while ((at = head_.find("\r\n", at)) != std::string::npos) {
    at += 2;
    std::size_t colon = head_.find(':', at);
    std::size_t end = head_.find("\r\n", at);
    if (colon == std::string::npos || end == std::string::npos || colon > end) continue;
    std::string field = head_.substr(at, colon - at);
    if (field.size() == name.size() &&
        std::equal(field.begin(), field.end(), name.begin(),
                   [](char a, char b) { return lower(a) == lower(b); })) {
      std::string value = head_.substr(colon + 1, end - colon - 1);
      while (!value.empty() && value.front() == ' ')
        value.erase(value.begin());
      return value;
    }
  }
  return std::nullopt;
}

bool WsTestClient::read_exact(std::uint8_t* data, std::size_t size, Clock::time_point deadline,
                              Frame::Status& status) {
  std::size_t got = 0;
  while (got < size) {
    long count = receive(data + got, size - got, deadline);
    if (count == -2) {
      status = Frame::Status::timeout;
      return false;
    }
    if (count <= 0) {
      status = Frame::Status::closed;
      return false;
    }
    got += static_cast<std::size_t>(count);
  }
  return true;
}

WsTestClient::Frame WsTestClient::read_frame(std::chrono::milliseconds timeout) {
  Frame frame;
  auto deadline = Clock::now() + timeout;
  std::uint8_t header[2];
  if (!read_exact(header, 2, deadline, frame.status)) return frame;
  frame.fin = (header[0] & 0x80) != 0;
  frame.opcode = header[0] & 0x0F;
  if ((header[1] & 0x80) != 0) {  // a server never masks
    frame.status = Frame::Status::bad;
    return frame;
  }
  std::uint64_t length = header[1] & 0x7F;
  if (length >= 126) {
    std::uint8_t extended[8];
    std::size_t bytes = length == 126 ? 2 : 8;
    if (!read_exact(extended, bytes, deadline, frame.status)) return frame;
    length = 0;
    for (std::size_t index = 0; index < bytes; ++index)
      length = (length << 8) | extended[index];
  }
  if (length > 64 * 1024 * 1024) {
    frame.status = Frame::Status::bad;
    return frame;
  }
  frame.payload.resize(static_cast<std::size_t>(length));
  if (!read_exact(frame.payload.data(), frame.payload.size(), deadline, frame.status)) return frame;
  frame.status = Frame::Status::frame;
  if (frame.opcode == 0x8) last_close_ = frame.close_code();
  return frame;
}

std::optional<std::vector<std::uint8_t>> WsTestClient::read_message(
    std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    Frame frame = read_frame(left);
    if (frame.status != Frame::Status::frame || frame.opcode == 0x8) return std::nullopt;
    if (frame.opcode == 0x2 && frame.fin) return std::move(frame.payload);
  }
}

std::optional<std::uint16_t> WsTestClient::read_close(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    Frame frame = read_frame(left);
    if (frame.status != Frame::Status::frame) return std::nullopt;
    if (frame.opcode == 0x8) return frame.close_code();
  }
}

bool WsTestClient::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::uint8_t chunk[4096];
    long count = receive(chunk, sizeof chunk, deadline);
    if (count == -2) return false;
    if (count <= 0) return true;
  }
}

}  // namespace qim::test
