#pragma once
// Drives Sessions without sockets: a fake Connection that records frames and closes and runs
// blocking work inline, over MemoryKv and a ManualClock, with the inline proposer (commands are
// applied at once, so asynchronous writes complete during the call).
#include <catch2/catch.hpp>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "proto/frame.h"
#include "service/im_service.h"
#include "service/inline_proposer.h"
#include "session/connection.h"
#include "session/session.h"
#include "store/memory_kv.h"

namespace qim::testing {

// One received frame, decoded (the payload copied to aligned storage).
struct Frame {
  std::vector<std::uint64_t> storage;
  const wire::Envelope* envelope = nullptr;

  wire::Body type() const { return envelope->body_type(); }
  std::uint32_t req_id() const { return envelope->req_id(); }
  errc error_code() const {
    const auto* error = envelope->body_as_Error();
    return error ? proto::from_wire(error->code()) : errc::ok;
  }
  std::string error_message() const {
    const auto* error = envelope->body_as_Error();
    return error ? std::string(proto::view(error->message())) : std::string();
  }
};

inline Frame decode_frame(std::span<const std::uint8_t> frame) {
  REQUIRE(frame.size() >= proto::frame_header_bytes);
  std::uint32_t length = proto::decode_frame_length(frame.data());
  REQUIRE(length == frame.size() - proto::frame_header_bytes);
  Frame decoded;
  decoded.storage.resize((length + 7) / 8);
  std::memcpy(decoded.storage.data(), frame.data() + proto::frame_header_bytes, length);
  std::span<const std::uint8_t> payload(
      reinterpret_cast<const std::uint8_t*>(decoded.storage.data()), length);
  Error error;
  decoded.envelope = proto::verify_envelope(payload, error);
  REQUIRE(decoded.envelope != nullptr);
  return decoded;
}

class FakeConnection final : public session::Connection {
 public:
  bool send(std::span<const std::uint8_t> frame) override {
    frames.push_back(decode_frame(frame));
    return true;
  }
  void close_after_flush() override { closed = true; }
  const std::string& remote_host() const override { return host; }
  void run_blocking(std::function<void()> work, std::function<void()> then) override {
    if (defer_jobs) {
      jobs.push_back({std::move(work), std::move(then)});
      return;
    }
    work();
    if (!closed) then();
  }
  Completion begin_async() override {
    return [this](std::function<void()> then) {
      if (!closed) then();
    };
  }
  // With defer_jobs: runs the pool's jobs (and those their continuations queue) until none is
  // left.
  void run_jobs() {
    while (!jobs.empty()) {
      auto job = std::move(jobs.front());
      jobs.pop_front();
      job.first();
      if (!closed) job.second();
    }
  }
  const Frame* reply(std::uint32_t req_id) const {
    for (const Frame& frame : frames) {
      if (frame.req_id() == req_id) return &frame;
    }
    return nullptr;
  }

  std::vector<Frame> frames;
  bool closed = false;
  std::string host = "192.0.2.1";
  // Work for the blocking pool waits in `jobs` until the test runs it.
  bool defer_jobs = false;
  std::deque<std::pair<std::function<void()>, std::function<void()>>> jobs;
};

// One client connection and its session.
class Client {
 public:
  explicit Client(service::ImService& service)
      : session_(std::make_unique<session::Session>(service, connection)) {}
  ~Client() { close(); }

  void close() {
    if (session_) {
      session_->on_close();
      session_.reset();
    }
  }

  // Feeds raw payload bytes (not length-prefixed) to the session.
  void feed(std::span<const std::uint8_t> payload) {
    std::vector<std::uint64_t> aligned((payload.size() + 7) / 8 + 1);
    std::memcpy(aligned.data(), payload.data(), payload.size());
    session_->on_frame({reinterpret_cast<const std::uint8_t*>(aligned.data()), payload.size()});
  }

  // Sends one request built by `build(fbb)` and returns its one reply; frames with req_id 0
  // received meanwhile go to pushes.
  template <typename Build>
  Frame request(Build build) {
    std::uint32_t req_id = next_req_id_++;
    proto::FrameBuilder builder;
    auto bytes = builder.finish(req_id, build(builder.fbb()));
    feed(bytes.subspan(proto::frame_header_bytes));
    return take_reply(req_id);
  }

  // Moves received pushes (req_id 0) out of the connection.
  std::vector<Frame> take_pushes() {
    collect();
    return std::exchange(pushes_, {});
  }

  // Sugar for common requests.
  Frame hello(std::uint32_t version = proto::protocol_version) {
    return request([&](auto& fbb) { return wire::CreateHelloDirect(fbb, version, "test"); });
  }
  Frame register_user(const std::string& user, const std::string& password) {
    return request(
        [&](auto& fbb) { return wire::CreateRegisterDirect(fbb, user.c_str(), password.c_str()); });
  }
  Frame login(const std::string& user, const std::string& password, const std::string& device) {
    return request([&](auto& fbb) {
      return wire::CreateLoginDirect(fbb, user.c_str(), password.c_str(), nullptr, device.c_str());
    });
  }
  Frame login_token(const std::string& user, const std::string& token, const std::string& device) {
    return request([&](auto& fbb) {
      return wire::CreateLoginDirect(fbb, user.c_str(), nullptr, token.c_str(), device.c_str());
    });
  }
  Frame send_to_user(const std::string& to, std::uint64_t client_msg_id, const std::string& body) {
    return request([&](auto& fbb) {
      std::vector<std::uint8_t> bytes(body.begin(), body.end());
      return wire::CreateSendDirect(fbb, to.c_str(), nullptr, client_msg_id, &bytes);
    });
  }
  Frame send_to_group(const std::string& group, std::uint64_t client_msg_id,
                      const std::string& body) {
    return request([&](auto& fbb) {
      std::vector<std::uint8_t> bytes(body.begin(), body.end());
      return wire::CreateSendDirect(fbb, nullptr, group.c_str(), client_msg_id, &bytes);
    });
  }
  Frame pull(const std::string& conversation, std::uint64_t after_seq, std::uint32_t limit) {
    return request([&](auto& fbb) {
      return wire::CreatePullDirect(fbb, conversation.c_str(), after_seq, limit);
    });
  }
  Frame history(const std::string& conversation, std::uint64_t before_seq, std::uint32_t limit) {
    return request([&](auto& fbb) {
      return wire::CreateHistoryDirect(fbb, conversation.c_str(), before_seq, limit);
    });
  }
  Frame ack(const std::string& conversation, std::uint64_t seq) {
    return request(
        [&](auto& fbb) { return wire::CreateAckDirect(fbb, conversation.c_str(), seq); });
  }
  Frame sync() {
    return request([&](auto& fbb) { return wire::CreateSync(fbb); });
  }
  Frame friend_request(const std::string& user) {
    return request([&](auto& fbb) { return wire::CreateFriendRequestDirect(fbb, user.c_str()); });
  }
  Frame friend_accept(const std::string& user) {
    return request([&](auto& fbb) { return wire::CreateFriendAcceptDirect(fbb, user.c_str()); });
  }

  FakeConnection connection;

 private:
  void collect() {
    for (Frame& frame : connection.frames) {
      if (frame.req_id() == 0) {
        pushes_.push_back(std::move(frame));
      } else {
        replies_.push_back(std::move(frame));
      }
    }
    connection.frames.clear();
  }
  Frame take_reply(std::uint32_t req_id) {
    collect();
    std::vector<Frame> matching;
    std::vector<Frame> rest;
    for (Frame& frame : replies_) {
      (frame.req_id() == req_id ? matching : rest).push_back(std::move(frame));
    }
    replies_ = std::move(rest);
    // A failed verification is answered with req_id 0 and a close.
    if (matching.empty() && !pushes_.empty() && pushes_.back().type() == wire::Body::Error &&
        connection.closed) {
      matching.push_back(std::move(pushes_.back()));
      pushes_.pop_back();
    }
    REQUIRE(matching.size() == 1);
    return std::move(matching.front());
  }

  std::unique_ptr<session::Session> session_;
  std::uint32_t next_req_id_ = 1;
  std::vector<Frame> replies_;
  std::vector<Frame> pushes_;
};

inline service::Options test_options() {
  service::Options options;
  options.password_cost = auth::PasswordCost::minimum();
  return options;
}

// The partitions tests use: few enough that users share them, keyed by a fixed key.
inline const route::Partitions& test_partitions() {
  static const route::Partitions partitions(16, cluster::HashKey{});
  return partitions;
}

// Waits for an asynchronous service write that the inline proposer completes during the call.
template <typename Start>
Error wait_for(Start start) {
  std::optional<Error> outcome;
  start([&outcome](Error error) { outcome = std::move(error); });
  REQUIRE(outcome.has_value());
  return *outcome;
}

// A node: store, clock, the inline proposer, service; and helpers to bring users online.
class World {
 public:
  explicit World(service::Options options = test_options())
      : proposer(kv, test_partitions()),
        service(kv, clock, logger, std::move(options), proposer, test_partitions()) {
    proposer.attach(service);
  }

  std::unique_ptr<Client> connect() {
    auto client = std::make_unique<Client>(service);
    REQUIRE(client->hello().type() == wire::Body::HelloOk);
    return client;
  }

  // Registers `user` (if new) and logs a new connection in as `device`.
  std::unique_ptr<Client> login(const std::string& user, const std::string& device = "phone") {
    auto client = connect();
    client->register_user(user, password);  // AlreadyExists after the first time
    Frame reply = client->login(user, password, device);
    REQUIRE(reply.type() == wire::Body::LoginOk);
    client->take_pushes();
    return client;
  }

  // Makes two logged-in users accepted friends.
  void befriend(Client& a, const std::string& a_name, Client& b, const std::string& b_name) {
    REQUIRE(a.friend_request(b_name).type() == wire::Body::Ok);
    REQUIRE(b.friend_accept(a_name).type() == wire::Body::Ok);
    a.take_pushes();
    b.take_pushes();
  }

  store::MemoryKv kv;
  core::ManualClock clock;
  core::Logger logger{core::LogLevel::off};
  service::InlineProposer proposer;
  service::ImService service;
  std::string password = "correct horse";
};

inline std::vector<std::uint64_t> seqs_of(const Frame& batch_frame) {
  std::vector<std::uint64_t> seqs;
  const auto* batch = batch_frame.envelope->body_as_MessageBatch();
  REQUIRE(batch != nullptr);
  if (batch->messages()) {
    for (const auto* message : *batch->messages())
      seqs.push_back(message->seq());
  }
  return seqs;
}

inline std::string body_of(const wire::Message& message) {
  auto bytes = proto::view(message.body());
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace qim::testing
