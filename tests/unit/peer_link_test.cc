// Peer links: the frame cipher and the handshake as plain functions, then PeerLinks instances
// talking over real loopback sockets in one process. Every wait polls an event with a deadline;
// nothing sleeps to synchronise.
#include <catch2/catch.hpp>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "auth/cluster_key.h"
#include "auth/password.h"
#include "net/peer_cipher.h"
#include "net/peer_handshake.h"
#include "net/peer_links.h"
#include "proto/peer_frame.h"

using namespace qim;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string text_of(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::array<std::uint8_t, proto::peer_challenge_bytes> challenge(std::uint8_t fill) {
  std::array<std::uint8_t, proto::peer_challenge_bytes> value;
  value.fill(fill);
  return value;
}

const auth::ClusterKey& cluster_key() {
  static const auth::ClusterKey key = [] {
    REQUIRE(auth::initialize());
    return auth::ClusterKey::generate();
  }();
  return key;
}

// A body type this build's union does not list, standing for the routing messages that will be
// appended to PeerBody: the link layer must carry it untouched. Its table has PeerError's
// layout ({code, message}), which the test reads back.
constexpr auto test_body_type = static_cast<peer_wire::PeerBody>(100);

std::vector<std::uint8_t> test_message(std::string_view text) {
  flatbuffers::FlatBufferBuilder fbb;
  auto message = fbb.CreateString(text.data(), text.size());
  auto body = peer_wire::CreatePeerError(fbb, wire::ErrorCode::None, message);
  fbb.ForceDefaults(true);  // req_id and kind present, as PeerFrameBuilder writes them
  peer_wire::PeerEnvelopeBuilder envelope(fbb);
  envelope.add_body(body.Union());
  envelope.add_req_id(0);
  envelope.add_kind(peer_wire::PeerKind::Request);
  envelope.add_body_type(test_body_type);
  peer_wire::FinishPeerEnvelopeBuffer(fbb, envelope.Finish());
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

std::string test_text(const peer_wire::PeerEnvelope& envelope) {
  if (envelope.body_type() != test_body_type) return "<not a test message>";
  return std::string(
      proto::view(static_cast<const peer_wire::PeerError*>(envelope.body())->message()));
}

// --- cluster view and handler ----------------------------------------------------------------

class TestDirectory final : public net::PeerDirectory {
 public:
  explicit TestDirectory(std::string name) : name_(std::move(name)) {}
  std::string local_name() const override { return name_; }
  std::optional<std::string> peer_address(std::string_view node) const override {
    std::lock_guard lock(mutex_);
    auto found = members_.find(std::string(node));
    if (found == members_.end()) return std::nullopt;
    return found->second;
  }
  void set(const std::string& node, const std::string& address) {
    std::lock_guard lock(mutex_);
    members_[node] = address;
  }
  void remove(const std::string& node) {
    std::lock_guard lock(mutex_);
    members_.erase(node);
  }

 private:
  const std::string name_;
  mutable std::mutex mutex_;
  std::map<std::string, std::string> members_;
};

// Answers "echo <text> from <node>"; "fail ..." gets PeerError{NotFound}; "slow <ms> ..." is
// answered after <ms> milliseconds, so replies overtake each other.
class EchoHandler final : public net::PeerHandler {
 public:
  asio::awaitable<std::vector<std::uint8_t>> on_request(
      std::string_view from_node, const peer_wire::PeerEnvelope& request) override {
    std::string from(from_node);
    std::string text = test_text(request);
    ++requests;
    if (text.rfind("slow ", 0) == 0) {
      auto delay = std::chrono::milliseconds(std::stoi(text.substr(5)));
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(delay);
      co_await timer.async_wait(use_nothrow);
    }
    if (text.rfind("fail", 0) == 0) {
      proto::PeerFrameBuilder builder;
      co_return builder.error(0, peer_wire::PeerKind::Reply, errc::not_found, "no such " + text);
    }
    co_return test_message("echo " + text + " from " + from);
  }
  void on_oneway(std::string_view from_node, const peer_wire::PeerEnvelope& message) override {
    std::lock_guard lock(mutex);
    oneways.push_back(std::string(from_node) + ": " + test_text(message));
  }

  std::atomic<int> requests{0};
  std::mutex mutex;
  std::vector<std::string> oneways;  // GUARDED_BY(mutex)
};

net::PeerLinkOptions fast_options() {
  net::PeerLinkOptions options;
  options.handshake_timeout = 1'000ms;
  options.backoff_initial = 20ms;
  options.backoff_max = 200ms;
  options.heartbeat_interval = 100ms;
  return options;
}

core::Logger& quiet_logger() {
  static core::Logger logger(core::LogLevel::off);
  return logger;
}

// One node: its view of the cluster, its handler and its links, bound on 127.0.0.1.
struct TestNode {
  TestNode(asio::io_context& io, std::string name, const auth::ClusterKey& key,
           net::PeerLinkOptions options = fast_options(), std::uint16_t port = 0)
      : directory(name), links(io.get_executor(), key, directory, quiet_logger(), 1, options) {
    std::string error;
    INFO(error);
    REQUIRE(links.bind({"127.0.0.1", port}, error));
    links.start(handler);
  }
  const std::string& address() const { return links.local_address(); }

  TestDirectory directory;
  EchoHandler handler;
  net::PeerLinks links;
};

void know(TestNode& node, const TestNode& other) {
  node.directory.set(other.directory.local_name(), other.address());
}

// Runs `task` on `io` (driving every node on it) until it completes; fails after `limit`.
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task, std::chrono::milliseconds limit = 10'000ms) {
  auto future = asio::co_spawn(io, std::move(task), asio::use_future);
  auto deadline = Clock::now() + limit;
  while (future.wait_for(0s) != std::future_status::ready) {
    io.run_one_for(10ms);
    REQUIRE(Clock::now() < deadline);
  }
  return future.get();
}

// Drives `io` until `condition` holds; fails after `limit`.
template <typename Condition>
void run_until(asio::io_context& io, Condition condition, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (!condition()) {
    io.run_one_for(10ms);
    REQUIRE(Clock::now() < deadline);
  }
}

void stop(asio::io_context& io, TestNode& node) {
  run(io, node.links.stop());
}

// Drives `io` until `node` has received `count` one-way messages; returns them.
std::vector<std::string> wait_for_oneways(asio::io_context& io, TestNode& node, std::size_t count,
                                          std::chrono::milliseconds limit) {
  run_until(
      io,
      [&] {
        std::lock_guard lock(node.handler.mutex);
        return node.handler.oneways.size() == count;
      },
      limit);
  std::lock_guard lock(node.handler.mutex);
  return std::exchange(node.handler.oneways, {});
}

asio::awaitable<net::PeerCallResult> call(TestNode& node, std::string to, std::string text,
                                          std::chrono::milliseconds timeout = 2'000ms) {
  auto request = test_message(text);
  auto operation = node.links.call(std::move(to), std::move(request), timeout);
  auto result = co_await std::move(operation);
  co_return result;
}

std::string reply_text(const net::PeerCallResult& result) {
  if (!result.ok()) return std::string("error ") + errc_name(result.error.code);
  return test_text(result.value.envelope());
}

// A port nobody listens on: bound, then closed.
std::uint16_t unused_port(asio::io_context& io) {
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = acceptor.local_endpoint().port();
  acceptor.close();
  return port;
}

}  // namespace

// --- cipher and handshake --------------------------------------------------------------------

TEST_CASE("peer cipher: frames open only in order, in their direction, in their connection",
          "[peer]") {
  const auto& key = cluster_key();
  auto a = challenge(1);
  auto b = challenge(2);
  net::PeerCipher dialer(key, net::PeerRole::dialer, a, b);
  net::PeerCipher acceptor(key, net::PeerRole::acceptor, a, b);

  auto first = dialer.seal(bytes_of("first"));
  auto second = dialer.seal(bytes_of("second"));
  SECTION("in order: both open") {
    auto opened = acceptor.open(first);
    REQUIRE(opened);
    CHECK(text_of(*opened) == "first");
    REQUIRE(acceptor.open(second));
    CHECK(acceptor.frames_opened() == 2);
  }
  SECTION("counter mismatch: a frame out of order does not open, nor does a replay") {
    CHECK_FALSE(acceptor.open(second));
    REQUIRE(acceptor.open(first));
    CHECK_FALSE(acceptor.open(first));  // replayed
    CHECK(acceptor.open(second));
  }
  SECTION("wrong direction: a frame reflected back to its sender does not open") {
    CHECK_FALSE(dialer.open(first));
    auto answer = acceptor.seal(bytes_of("answer"));
    CHECK_FALSE(acceptor.open(answer));
    CHECK(dialer.open(answer));
  }
  SECTION("another connection: other challenges, the same counter, does not open") {
    net::PeerCipher other_acceptor(key, net::PeerRole::acceptor, a, challenge(3));
    CHECK_FALSE(other_acceptor.open(first));
    net::PeerCipher other_dialer(key, net::PeerRole::dialer, challenge(4), b);
    CHECK_FALSE(acceptor.open(other_dialer.seal(bytes_of("first"))));
  }
  SECTION("another key does not open") {
    auto other_key = auth::ClusterKey::generate();
    net::PeerCipher stranger(other_key, net::PeerRole::acceptor, a, b);
    CHECK_FALSE(stranger.open(first));
  }
  SECTION("a hello does not open as a session frame, nor the reverse") {
    auto hello = net::seal_peer_hello(key, bytes_of("first"));
    CHECK_FALSE(acceptor.open(hello));
    CHECK_FALSE(net::open_peer_hello(key, first));
  }
}

TEST_CASE("peer cipher: no two frames share a nonce, within a connection or across two", "[peer]") {
  const auto& key = cluster_key();
  auto a = challenge(1);
  auto b = challenge(2);
  // The same challenges twice (as a replayed handshake would give): the nonces still differ.
  net::PeerCipher first(key, net::PeerRole::dialer, a, b);
  net::PeerCipher second(key, net::PeerRole::dialer, a, b);
  net::PeerCipher acceptor(key, net::PeerRole::acceptor, a, b);
  std::set<std::vector<std::uint8_t>> nonces;
  for (int i = 0; i < 300; ++i) {
    for (net::PeerCipher* cipher : {&first, &second, &acceptor}) {
      auto sealed = cipher->seal(bytes_of("frame"));
      REQUIRE(sealed.size() >= auth::sealed_nonce_bytes);
      CHECK(nonces.emplace(sealed.begin(), sealed.begin() + auth::sealed_nonce_bytes).second);
    }
  }
  CHECK(nonces.size() == 900);
}

TEST_CASE("peer handshake: members get a cipher, others a sealed refusal", "[peer]") {
  const auto& key = cluster_key();
  TestDirectory acceptor_view("b");
  net::PeerIdentity dialer{"a", 7, "127.0.0.1:1001"};
  net::PeerIdentity acceptor{"b", 9, "127.0.0.1:2001"};
  auto a = challenge(5);
  auto b = challenge(6);

  SECTION("a live member with the advertised address") {
    acceptor_view.set("a", "127.0.0.1:1001");
    auto answer = net::answer_peer_hello(key, acceptor_view, acceptor, b,
                                         net::make_peer_hello(key, dialer, a));
    REQUIRE(answer.cipher);
    CHECK(answer.remote_name == "a");
    CHECK(answer.remote_restart_epoch == 7);
    auto opened = net::open_peer_answer(key, a, "b", answer.answer);
    REQUIRE(opened.cipher);
    CHECK(opened.remote_restart_epoch == 9);
    auto frame = opened.cipher->seal(bytes_of("hi"));
    CHECK(answer.cipher->open(frame));
    SECTION("an answer from another node than the one dialled is refused") {
      auto wrong = net::open_peer_answer(key, a, "c", answer.answer);
      CHECK_FALSE(wrong.cipher);
      CHECK(wrong.error.code == errc::wrong_node);
    }
    SECTION("an answer bound to another challenge does not open") {
      CHECK_FALSE(net::open_peer_answer(key, challenge(7), "b", answer.answer).cipher);
    }
  }
  SECTION("not a member: refused with a sealed NotMember the dialer can read") {
    auto answer = net::answer_peer_hello(key, acceptor_view, acceptor, b,
                                         net::make_peer_hello(key, dialer, a));
    CHECK_FALSE(answer.cipher);
    CHECK(answer.error.code == errc::not_member);
    auto opened = net::open_peer_answer(key, a, "b", answer.answer);
    CHECK_FALSE(opened.cipher);
    CHECK(opened.error.code == errc::not_member);
  }
  SECTION("a member claiming another address is refused") {
    acceptor_view.set("a", "127.0.0.1:1002");
    auto answer = net::answer_peer_hello(key, acceptor_view, acceptor, b,
                                         net::make_peer_hello(key, dialer, a));
    CHECK_FALSE(answer.cipher);
    CHECK(answer.error.code == errc::forbidden);
  }
  SECTION("another key: nothing opens, nothing is answered") {
    acceptor_view.set("a", "127.0.0.1:1001");
    auto other_key = auth::ClusterKey::generate();
    auto answer = net::answer_peer_hello(key, acceptor_view, acceptor, b,
                                         net::make_peer_hello(other_key, dialer, a));
    CHECK_FALSE(answer.cipher);
    CHECK(answer.answer.empty());
  }
}

TEST_CASE("peer frames: the builder always writes req_id and kind, so they can be stamped",
          "[peer]") {
  proto::PeerFrameBuilder builder;
  auto payload = builder.ping(5);
  REQUIRE(proto::stamp_peer_envelope(payload, 42, peer_wire::PeerKind::Reply));
  Error error;
  auto message = proto::PeerMessage::verify(std::move(payload), error);
  REQUIRE(message.valid());
  CHECK(message.envelope().req_id() == 42);
  CHECK(message.envelope().kind() == peer_wire::PeerKind::Reply);
  CHECK(message.envelope().body_as_PeerPing()->nonce() == 5);
  auto moved = std::move(message);
  CHECK(moved.valid());
  CHECK_FALSE(message.valid());  // NOLINT(bugprone-use-after-move): moved-from is empty
  std::vector<std::uint8_t> garbage(64, 0xab);
  CHECK_FALSE(proto::PeerMessage::verify(garbage, error).valid());
}

// --- links over loopback ---------------------------------------------------------------------

TEST_CASE("peer links: request and reply in both directions, PeerError as a failure", "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  TestNode b(io, "b", cluster_key());
  know(a, b);
  know(b, a);

  auto from_a = run(io, call(a, "b", "hello"));
  CHECK(reply_text(from_a) == "echo hello from a");
  CHECK(from_a.value.envelope().kind() == peer_wire::PeerKind::Reply);
  auto from_b = run(io, call(b, "a", "hi"));
  CHECK(reply_text(from_b) == "echo hi from b");
  auto failed = run(io, call(a, "b", "fail 1"));
  CHECK(failed.error.code == errc::not_found);
  CHECK(failed.error.message == "no such fail 1");
  auto self = run(io, call(a, "a", "me"));
  CHECK(self.error.code == errc::invalid_argument);
  auto stranger = run(io, call(a, "nobody", "x"));
  CHECK(stranger.error.code == net::peer_unavailable);

  auto stats = a.links.stats();
  CHECK(stats.outbound_connected == 1);
  CHECK(stats.frames_sent >= 3);
  CHECK(b.links.stats().inbound_links == 1);
  stop(io, a);
  stop(io, b);
}

TEST_CASE("peer links: concurrent calls from another thread get their own replies", "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  TestNode b(io, "b", cluster_key());
  know(a, b);
  know(b, a);

  // The callers run on their own io_context and thread, as the client I/O threads will.
  asio::io_context callers;
  auto guard = asio::make_work_guard(callers);
  std::thread caller_thread([&] { callers.run(); });
  constexpr int call_count = 200;
  std::atomic<int> done{0};
  std::atomic<int> matched{0};
  for (int i = 0; i < call_count; ++i) {
    // Later calls are answered sooner, so replies overtake each other.
    std::string text = "slow " + std::to_string((call_count - i) % 40) + " #" + std::to_string(i);
    asio::co_spawn(
        callers,
        [&a, &done, &matched, text]() -> asio::awaitable<void> {
          auto request = test_message(text);
          auto operation = a.links.call("b", std::move(request), 5'000ms);
          auto result = co_await std::move(operation);
          if (reply_text(result) == "echo " + text + " from a") ++matched;
          ++done;
        },
        asio::detached);
  }
  run_until(
      io, [&] { return done.load() == call_count; }, 10'000ms);
  guard.reset();
  caller_thread.join();
  CHECK(matched.load() == call_count);
  CHECK(b.handler.requests.load() == call_count);
  stop(io, a);
  stop(io, b);
}

TEST_CASE("peer links: one-way posts arrive in order", "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  TestNode b(io, "b", cluster_key());
  know(a, b);
  know(b, a);
  constexpr int post_count = 300;
  for (int i = 0; i < post_count; ++i)
    REQUIRE(a.links.post("b", test_message("m" + std::to_string(i))));
  auto received = wait_for_oneways(io, b, post_count, 5'000ms);
  for (int i = 0; i < post_count; ++i)
    CHECK(received[static_cast<std::size_t>(i)] == "a: m" + std::to_string(i));
  CHECK_FALSE(a.links.post("b", {1, 2, 3}));  // not an envelope
  stop(io, a);
  stop(io, b);
}

TEST_CASE("peer links: a dialer that is not a member, or has another key, is refused", "[peer]") {
  asio::io_context io;
  TestNode b(io, "b", cluster_key());
  SECTION("not in the acceptor's directory") {
    TestNode a(io, "a", cluster_key());
    know(a, b);  // b does not know a
    auto started = Clock::now();
    auto result = run(io, call(a, "b", "hello", 300ms));
    CHECK(result.error.code == net::peer_unavailable);
    CHECK(Clock::now() - started < 1'000ms);
    CHECK(b.links.stats().handshakes_failed >= 1);
    CHECK(a.links.stats().dials_failed >= 1);
    CHECK(b.handler.requests.load() == 0);
    stop(io, a);
  }
  SECTION("another cluster key") {
    auto other_key = auth::ClusterKey::generate();
    TestNode a(io, "a", other_key);
    know(a, b);
    know(b, a);
    auto result = run(io, call(a, "b", "hello", 300ms));
    CHECK(result.error.code == net::peer_unavailable);
    CHECK(b.links.stats().handshakes_failed >= 1);
    CHECK(b.handler.requests.load() == 0);
    stop(io, a);
  }
  stop(io, b);
}

TEST_CASE("peer links: a restarted peer is redialled and calls succeed again", "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  auto b = std::make_unique<TestNode>(io, "b", cluster_key());
  know(a, *b);
  know(*b, a);
  REQUIRE(reply_text(run(io, call(a, "b", "before"))) == "echo before from a");

  std::uint16_t port = b->links.local_port();
  stop(io, *b);
  b.reset();
  b = std::make_unique<TestNode>(io, "b", cluster_key(), fast_options(), port);
  know(*b, a);

  // The first calls may hit the dead link or the backoff; within a bounded time one succeeds.
  auto deadline = Clock::now() + 5'000ms;
  std::string reply;
  while (reply != "echo after from a") {
    REQUIRE(Clock::now() < deadline);
    reply = reply_text(run(io, call(a, "b", "after", 300ms)));
  }
  CHECK(a.links.stats().reconnects >= 1);
  stop(io, a);
  stop(io, *b);
}

TEST_CASE("peer links: a full queue fails calls and posts at once", "[peer]") {
  asio::io_context io;
  auto options = fast_options();
  options.queue_frames = 4;
  TestNode a(io, "a", cluster_key(), options);
  a.directory.set("c", "127.0.0.1:" + std::to_string(unused_port(io)));  // never answers

  for (int i = 0; i < 4; ++i)
    CHECK(a.links.post("c", test_message("queued")));
  CHECK_FALSE(a.links.post("c", test_message("one too many")));
  auto started = Clock::now();
  auto result = run(io, call(a, "c", "call", 5'000ms));
  CHECK(result.error.code == net::peer_overloaded);
  CHECK(Clock::now() - started < 1'000ms);  // failed fast, not at the deadline
  auto stats = a.links.stats();
  CHECK(stats.queued_frames == 4);
  CHECK(stats.calls_overloaded == 1);
  CHECK(stats.frames_dropped >= 1);
  stop(io, a);
}

TEST_CASE("peer links: a call to an unreachable node fails within its deadline", "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  a.directory.set("c", "127.0.0.1:" + std::to_string(unused_port(io)));
  auto started = Clock::now();
  auto result = run(io, call(a, "c", "anyone?", 300ms));
  auto elapsed = Clock::now() - started;
  CHECK(result.error.code == net::peer_unavailable);
  CHECK(elapsed >= 300ms);
  CHECK(elapsed < 1'000ms);
  CHECK(a.links.stats().dials_failed >= 1);
  stop(io, a);
}

namespace {

// Connects to `address` and writes `bytes`; returns once the peer has closed the connection
// (true) or after 2 s (false).
asio::awaitable<bool> closed_after_writing(std::string address, std::vector<std::uint8_t> bytes) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  auto host_port = net::parse_host_port(address);
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host_port->host), host_port->port);
  auto [connect_error] = co_await socket.async_connect(endpoint, use_nothrow);
  if (connect_error) co_return false;
  auto [write_error, written] =
      co_await asio::async_write(socket, asio::buffer(bytes), use_nothrow);
  if (write_error) co_return true;  // reset while writing: closed
  asio::steady_timer timer(executor);
  timer.expires_after(2'000ms);
  timer.async_wait([&socket](asio::error_code error) {
    if (!error) socket.close();
  });
  std::vector<std::uint8_t> buffer(64 * 1024);
  for (;;) {
    auto [read_error, count] = co_await socket.async_read_some(asio::buffer(buffer), use_nothrow);
    if (read_error) {
      bool closed_by_peer = read_error != asio::error::operation_aborted;
      timer.cancel();
      co_return closed_by_peer;
    }
  }
}

std::vector<std::uint8_t> framed(std::uint32_t length, std::vector<std::uint8_t> body) {
  std::vector<std::uint8_t> bytes(proto::frame_header_bytes + body.size());
  proto::encode_frame_length(length, bytes.data());
  if (!body.empty())
    std::memcpy(bytes.data() + proto::frame_header_bytes, body.data(), body.size());
  return bytes;
}

// A member "raw" that completes the handshake by hand, then sends `after` (nothing: stays
// silent). Returns how many frames the node sent before closing, or -1 if it never closed.
asio::awaitable<int> handshake_then(std::string address, std::vector<std::uint8_t> after) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  auto host_port = net::parse_host_port(address);
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host_port->host), host_port->port);
  auto [connect_error] = co_await socket.async_connect(endpoint, use_nothrow);
  if (connect_error) co_return -1;
  auto a = challenge(9);
  auto hello = net::make_peer_hello(cluster_key(), {"raw", 1, "127.0.0.1:1"}, a);
  auto hello_frame = framed(static_cast<std::uint32_t>(hello.size()), hello);
  co_await asio::async_write(socket, asio::buffer(hello_frame), use_nothrow);
  std::uint8_t header[proto::frame_header_bytes];
  auto [header_error, header_count] =
      co_await asio::async_read(socket, asio::buffer(header), use_nothrow);
  if (header_error) co_return -1;
  std::vector<std::uint8_t> answer(proto::decode_frame_length(header));
  auto [answer_error, answer_count] =
      co_await asio::async_read(socket, asio::buffer(answer), use_nothrow);
  if (answer_error) co_return -1;
  auto opened = net::open_peer_answer(cluster_key(), a, "b", answer);
  if (!opened.cipher) co_return -1;
  if (!after.empty()) co_await asio::async_write(socket, asio::buffer(after), use_nothrow);
  asio::steady_timer timer(executor);
  timer.expires_after(3'000ms);
  bool timed_out = false;
  timer.async_wait([&](asio::error_code error) {
    if (!error) {
      timed_out = true;
      socket.close();
    }
  });
  int frames = 0;
  for (;;) {
    auto [read_error, count] = co_await asio::async_read(socket, asio::buffer(header), use_nothrow);
    if (read_error) break;
    std::vector<std::uint8_t> sealed(proto::decode_frame_length(header));
    auto [body_error, body_count] =
        co_await asio::async_read(socket, asio::buffer(sealed), use_nothrow);
    if (body_error || !opened.cipher->open(sealed)) break;
    ++frames;
  }
  timer.cancel();
  co_return timed_out ? -1 : frames;
}

// A member "raw" that completes the handshake by hand, then writes `messages` as one-way
// frames in pieces of `piece` bytes, letting the node read between pieces, so that frames
// arrive split at every place. True when everything was written.
asio::awaitable<bool> handshake_then_pieces(std::string address, std::vector<std::string> messages,
                                            std::size_t piece) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket socket(executor);
  auto host_port = net::parse_host_port(address);
  asio::ip::tcp::endpoint endpoint(asio::ip::make_address(host_port->host), host_port->port);
  auto [connect_error] = co_await socket.async_connect(endpoint, use_nothrow);
  if (connect_error) co_return false;
  auto a = challenge(8);
  auto hello = net::make_peer_hello(cluster_key(), {"raw", 1, "127.0.0.1:1"}, a);
  auto hello_frame = framed(static_cast<std::uint32_t>(hello.size()), hello);
  co_await asio::async_write(socket, asio::buffer(hello_frame), use_nothrow);
  std::uint8_t header[proto::frame_header_bytes];
  auto [header_error, header_count] =
      co_await asio::async_read(socket, asio::buffer(header), use_nothrow);
  if (header_error) co_return false;
  std::vector<std::uint8_t> answer(proto::decode_frame_length(header));
  auto [answer_error, answer_count] =
      co_await asio::async_read(socket, asio::buffer(answer), use_nothrow);
  if (answer_error) co_return false;
  auto opened = net::open_peer_answer(cluster_key(), a, "b", answer);
  if (!opened.cipher) co_return false;
  std::vector<std::uint8_t> stream;
  for (const std::string& text : messages) {
    auto payload = test_message(text);
    Error error;
    if (!proto::verify_peer_envelope(payload, error) ||
        !proto::stamp_peer_envelope(payload, 0, peer_wire::PeerKind::Oneway)) {
      co_return false;
    }
    auto sealed = opened.cipher->seal(payload);
    auto frame = framed(static_cast<std::uint32_t>(sealed.size()), sealed);
    stream.insert(stream.end(), frame.begin(), frame.end());
  }
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    std::size_t size = std::min(piece, stream.size() - at);
    auto [write_error, written] =
        co_await asio::async_write(socket, asio::buffer(stream.data() + at, size), use_nothrow);
    if (write_error) co_return false;
    for (int turn = 0; turn < 3; ++turn)
      co_await asio::post(executor, asio::use_awaitable);
  }
  // Closing now is fine: what was written is read before the end of the stream.
  co_return true;
}

}  // namespace

TEST_CASE("peer links: frames larger than a read, bursts and split frames arrive whole, in order",
          "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  TestNode b(io, "b", cluster_key());
  know(a, b);
  know(b, a);
  b.directory.set("raw", "127.0.0.1:1");
  // Small ones around two larger than the reader's 64 KiB chunk.
  std::vector<std::string> sent;
  for (int i = 0; i < 20; ++i)
    sent.push_back("small " + std::to_string(i));
  sent.push_back(std::string(300 * 1024, 'x'));
  sent.push_back("between");
  sent.push_back(std::string(2 * 1024 * 1024, 'y'));
  for (int i = 20; i < 40; ++i)
    sent.push_back("small " + std::to_string(i));
  for (const std::string& text : sent)
    REQUIRE(a.links.post("b", test_message(text)));
  auto received = wait_for_oneways(io, b, sent.size(), 10'000ms);
  for (std::size_t i = 0; i < sent.size(); ++i) {
    INFO(i);
    CHECK(received[i] == "a: " + sent[i]);
  }

  // Frames cut at every place: 5-byte pieces split lengths, seals and payloads.
  std::vector<std::string> pieces = {"first", std::string(100, 'p'), "third"};
  auto writer = asio::co_spawn(io, handshake_then_pieces(b.address(), pieces, 5), asio::use_future);
  received = wait_for_oneways(io, b, pieces.size(), 10'000ms);
  for (std::size_t i = 0; i < pieces.size(); ++i)
    CHECK(received[i] == "raw: " + pieces[i]);
  run_until(
      io, [&] { return writer.wait_for(0s) == std::future_status::ready; }, 10'000ms);
  CHECK(writer.get());
  CHECK(b.links.stats().connections_closed_bad_frame == 0);
  stop(io, a);
  stop(io, b);
}

TEST_CASE("peer links: garbage, oversize lengths and silence close only that connection",
          "[peer]") {
  asio::io_context io;
  TestNode a(io, "a", cluster_key());
  TestNode b(io, "b", cluster_key());
  know(a, b);
  know(b, a);
  b.directory.set("raw", "127.0.0.1:1");
  REQUIRE(reply_text(run(io, call(a, "b", "one"))) == "echo one from a");

  std::vector<std::uint8_t> garbage(100, 0x5a);
  CHECK(run(io, closed_after_writing(b.address(), framed(100, garbage))));
  CHECK(run(io, closed_after_writing(b.address(), framed(0xffffffffu, garbage))));
  CHECK(run(io, closed_after_writing(b.address(), framed(0, {}))));
  CHECK(b.links.stats().handshakes_failed >= 3);

  // After a valid handshake: an oversize length, then garbage that does not open.
  CHECK(run(io, handshake_then(b.address(), framed(5 * 1024 * 1024, garbage))) >= 0);
  CHECK(run(io, handshake_then(b.address(), framed(100, garbage))) >= 0);
  CHECK(b.links.stats().connections_closed_bad_frame >= 2);
  // Silence: the node pings (frames arrive), then closes after missed heartbeats.
  CHECK(run(io, handshake_then(b.address(), {})) >= 1);

  // The healthy link never noticed.
  CHECK(reply_text(run(io, call(a, "b", "two"))) == "echo two from a");
  CHECK(a.links.stats().reconnects == 0);
  stop(io, a);
  stop(io, b);
}
