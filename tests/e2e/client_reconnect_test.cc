// The client library's automatic reconnection against scripted servers on loopback: each
// answers Hello, Login, Sync and Ping the way a test tells it to, so the client's choices after
// a given answer can be checked exactly, without a cluster's timing.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "proto/frame.h"

namespace qim::e2e {
namespace {

using namespace std::chrono_literals;

// One scripted node. Every connection gets HelloOk (naming `peers` as the cluster's nodes);
// Login gets what `on_login` builds; Sync an empty SyncResult; Ping a Pong; anything else
// Unavailable. push_redirect_and_close() makes it push a Redirect to every connection and
// close them, as a node does when a user's home moves.
class ScriptedNode {
 public:
  using LoginAnswer =
      std::function<std::span<const std::uint8_t>(proto::FrameBuilder&, std::uint32_t req_id)>;

  explicit ScriptedNode(std::string name) : name_(std::move(name)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~ScriptedNode() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    for (int fd : connections_)
      ::close(fd);
    ::close(listener_);
  }

  void start(std::vector<std::string> peers, LoginAnswer on_login) {
    peers_ = std::move(peers);
    on_login_ = std::move(on_login);
    thread_ = std::thread([this] { run(); });
  }
  void push_redirect_and_close(const ScriptedNode& to) {
    std::lock_guard lock(mutex_);
    redirect_to_ = &to;
  }
  std::uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::uint32_t logins() const { return logins_; }

 private:
  void run() {
    while (!stopping_) {
      const ScriptedNode* redirect = nullptr;
      {
        std::lock_guard lock(mutex_);
        redirect = std::exchange(redirect_to_, nullptr);
      }
      if (redirect != nullptr) {
        for (int fd : connections_) {
          proto::FrameBuilder builder;
          auto& fbb = builder.fbb();
          auto host = fbb.CreateString("127.0.0.1");
          auto node = fbb.CreateString(redirect->name());
          write_all(fd, builder.finish(0, wire::CreateRedirect(fbb, host, redirect->port(), node)));
          ::close(fd);
        }
        connections_.clear();
        buffers_.clear();
      }
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (int fd : connections_)
        fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int fd = ::accept(listener_, nullptr, nullptr);
        if (fd >= 0) connections_.push_back(fd);
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        if (!read_from(fds[i].fd)) drop(fds[i].fd);
      }
    }
  }

  void drop(int fd) {
    ::close(fd);
    std::erase(connections_, fd);
    buffers_.erase(fd);
  }

  // Reads what came and answers every whole frame; false when the peer closed.
  bool read_from(int fd) {
    std::uint8_t chunk[4096];
    ssize_t got = ::read(fd, chunk, sizeof(chunk));
    if (got <= 0) return false;
    auto& buffer = buffers_[fd];
    buffer.insert(buffer.end(), chunk, chunk + got);
    while (buffer.size() >= proto::frame_header_bytes) {
      std::uint32_t length = proto::decode_frame_length(buffer.data());
      if (buffer.size() < proto::frame_header_bytes + length) break;
      // Verified at an 8-byte-aligned address.
      std::vector<std::uint64_t> aligned((length + 7) / 8);
      std::memcpy(aligned.data(), buffer.data() + proto::frame_header_bytes, length);
      buffer.erase(buffer.begin(), buffer.begin() + proto::frame_header_bytes + length);
      Error error;
      const auto* envelope = proto::verify_envelope(
          {reinterpret_cast<const std::uint8_t*>(aligned.data()), length}, error);
      if (envelope == nullptr) return false;
      answer(fd, *envelope);
    }
    return true;
  }

  void answer(int fd, const wire::Envelope& envelope) {
    proto::FrameBuilder builder;
    auto& fbb = builder.fbb();
    std::uint32_t id = envelope.req_id();
    switch (envelope.body_type()) {
      case wire::Body::Hello: {
        auto version = fbb.CreateString("scripted");
        auto node = fbb.CreateString(name_);
        auto peers = fbb.CreateVectorOfStrings(peers_);
        wire::HelloOkBuilder ok(fbb);
        ok.add_protocol_version(proto::protocol_version);
        ok.add_server_version(version);
        ok.add_node(node);
        ok.add_max_frame_bytes(proto::default_client_max_frame_bytes);
        ok.add_max_body_bytes(4096);
        ok.add_cluster_nodes(peers);
        return write_all(fd, builder.finish(id, ok.Finish()));
      }
      case wire::Body::Login:
        ++logins_;
        return write_all(fd, on_login_(builder, id));
      case wire::Body::Sync:
        return write_all(fd, builder.finish(id, wire::CreateSyncResult(fbb)));
      case wire::Body::Ping:
        return write_all(
            fd, builder.finish(id, wire::CreatePong(fbb, envelope.body_as_Ping()->nonce(), 0)));
      default:
        return write_all(fd, error_frame(builder, id, errc::unavailable, "not scripted"));
    }
  }

 public:
  static std::span<const std::uint8_t> error_frame(proto::FrameBuilder& builder, std::uint32_t id,
                                                   errc code, const std::string& message) {
    auto& fbb = builder.fbb();
    auto text = fbb.CreateString(message);
    return builder.finish(id, wire::CreateError(fbb, proto::to_wire(code), text));
  }
  static std::span<const std::uint8_t> login_ok(proto::FrameBuilder& builder, std::uint32_t id,
                                                const std::string& node) {
    auto& fbb = builder.fbb();
    auto user = fbb.CreateString("alice");
    auto device = fbb.CreateString("d1");
    auto token = fbb.CreateString("token");
    auto node_name = fbb.CreateString(node);
    return builder.finish(id, wire::CreateLoginOk(fbb, user, device, token, node_name, 0));
  }
  static std::span<const std::uint8_t> redirect(proto::FrameBuilder& builder, std::uint32_t id,
                                                const ScriptedNode& to) {
    auto& fbb = builder.fbb();
    auto host = fbb.CreateString("127.0.0.1");
    auto node = fbb.CreateString(to.name());
    return builder.finish(id, wire::CreateRedirect(fbb, host, to.port(), node));
  }

 private:
  static void write_all(int fd, std::span<const std::uint8_t> bytes) {
    while (!bytes.empty()) {
      ssize_t wrote = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (wrote <= 0) return;
      bytes = bytes.subspan(static_cast<std::size_t>(wrote));
    }
  }

  std::string name_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::vector<std::string> peers_;
  LoginAnswer on_login_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint32_t> logins_{0};
  std::mutex mutex_;
  const ScriptedNode* redirect_to_ = nullptr;  // GUARDED_BY(mutex_)
  // Owned by the node's thread.
  std::vector<int> connections_;
  std::map<int, std::vector<std::uint8_t>> buffers_;
};

// The soak's 3-4 s logged-out stretches after every move of a home: the new home, asked a
// moment before it could serve the user, answered "not now", was taken for a dead node for the
// silence period, and every other node's Redirect to it was refused as "not answering".
TEST_CASE("a reconnecting client goes back to a node that answered \"not now\"", "[e2e][client]") {
  ScriptedNode old_home("a"), new_home("b"), other("c");
  std::vector<std::string> peers{old_home.address(), new_home.address(), other.address()};
  // The old home serves the first login; once the home has moved it redirects.
  std::atomic<bool> moved{false};
  old_home.start(peers, [&](proto::FrameBuilder& builder, std::uint32_t id) {
    if (moved) return ScriptedNode::redirect(builder, id, new_home);
    return ScriptedNode::login_ok(builder, id, "a");
  });
  // The new home refuses its first login as a leader not ready yet does, then serves.
  std::atomic<int> refused{0};
  new_home.start(peers, [&](proto::FrameBuilder& builder, std::uint32_t id) {
    if (refused++ == 0) {
      return ScriptedNode::error_frame(builder, id, errc::unavailable,
                                       "this node does not serve this account now; retry shortly");
    }
    return ScriptedNode::login_ok(builder, id, "b");
  });
  // Any other node sends the user to the new home.
  other.start(peers, [&](proto::FrameBuilder& builder, std::uint32_t id) {
    return ScriptedNode::redirect(builder, id, new_home);
  });

  ClientOptions options = test_client_options();
  options.auto_reconnect = true;
  options.reconnect_backoff_initial = 50ms;
  options.reconnect_backoff_max = 50ms;
  options.heartbeat_interval = 60s;
  options.pong_timeout = 10s;  // a node taken for silent stays so for 10 s
  Client client(options);
  REQUIRE(client.connect("127.0.0.1", old_home.port()));
  REQUIRE(client.login("alice", "secret", "d1"));
  CHECK(client.node() == "a");

  moved = true;
  old_home.push_redirect_and_close(new_home);
  auto back = client.wait_event(
      [](const Event& event) { return std::holds_alternative<ReconnectedEvent>(event); }, 20s);
  REQUIRE(back);
  const auto& reconnected = std::get<ReconnectedEvent>(*back);
  INFO(reconnected.last_error);
  CHECK(reconnected.node == "b");
  // The refusal, then straight back (through the other node's Redirect or not); not 10 s of
  // attempts that pass the new home over.
  CHECK(reconnected.attempts == 2);
  CHECK(refused == 2);
}

}  // namespace
}  // namespace qim::e2e
