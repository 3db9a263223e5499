// Bad bytes over raw TCP: each gets an Error (with the right code) or a close, and a
// logged-in pair keeps chatting through all of it.
#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "qim/ids.h"

namespace qim::e2e {
namespace {

using Status = RawConnection::ReadStatus;

// Reads what the server answers to bad input: its Error code if it sent one, and whether it
// then closed. Stops at the first Error or at the close.
struct Answer {
  std::optional<errc> code;
  bool closed = false;
};
Answer read_answer(RawConnection& raw) {
  Answer answer;
  for (;;) {
    auto frame = raw.read_frame();
    if (frame.status == Status::closed) {
      answer.closed = true;
      return answer;
    }
    if (frame.status != Status::frame) return answer;
    if (auto code = error_code(frame)) {
      answer.code = code;
      return answer;
    }
  }
}

void check_still_chatting(Client& alice, Client& bob) {
  const std::string text = "still here";
  REQUIRE(alice.send_to_user("bob", text).ok());
  auto message = next_message(bob, direct_conversation("alice", "bob"));
  REQUIRE(message);
  CHECK(message->body == text);
}

}  // namespace

TEST_CASE("malformed input gets an Error or a close and hurts nobody else", "[e2e][malformed]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");
  auto bob = logged_in_client(*server, "bob");
  make_friends(*alice, *bob);

  SECTION("garbage bytes") {
    RawConnection raw(server->port());
    REQUIRE(raw.ok());
    // A plausible length followed by bytes that are no FlatBuffer.
    std::vector<std::uint8_t> garbage = {32, 0, 0, 0};
    for (int i = 0; i < 32; ++i)
      garbage.push_back(static_cast<std::uint8_t>(0xA5 ^ (i * 37)));
    REQUIRE(raw.send_bytes(garbage));
    auto answer = read_answer(raw);
    if (answer.code) {
      CHECK(*answer.code == errc::malformed);
      CHECK(raw.wait_closed());
    } else {
      CHECK(answer.closed);
    }
  }
  SECTION("text where a frame should be") {
    RawConnection raw(server->port());
    const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(raw.send_bytes({reinterpret_cast<const std::uint8_t*>(http.data()), http.size()}));
    auto answer = read_answer(raw);
    if (answer.code) {
      CHECK((*answer.code == errc::frame_too_large || *answer.code == errc::malformed));
      CHECK(raw.wait_closed());
    } else {
      CHECK(answer.closed);
    }
  }
  SECTION("a truncated frame, then the client goes away") {
    RawConnection raw(server->port());
    auto hello = hello_frame(1);
    REQUIRE(raw.send_bytes({hello.data(), hello.size() / 2}));
    raw.shutdown_write();
    auto answer = read_answer(raw);
    CHECK((answer.closed || answer.code.has_value()));
  }
  SECTION("an oversize length prefix") {
    RawConnection raw(server->port());
    std::vector<std::uint8_t> header = {0xff, 0xff, 0xff, 0x7f};
    REQUIRE(raw.send_bytes(header));
    auto answer = read_answer(raw);
    REQUIRE(answer.code);
    CHECK(*answer.code == errc::frame_too_large);
    CHECK(raw.wait_closed());
  }
  SECTION("an empty frame") {
    RawConnection raw(server->port());
    std::vector<std::uint8_t> header = {0, 0, 0, 0};
    REQUIRE(raw.send_bytes(header));
    auto answer = read_answer(raw);
    if (answer.code) CHECK(*answer.code == errc::malformed);
    CHECK((answer.closed || raw.wait_closed()));
  }
  SECTION("a valid frame of a type the server never accepts") {
    RawConnection raw(server->port());
    raw.hello();
    proto::FrameBuilder builder;
    auto pong = builder.finish(7, wire::CreatePong(builder.fbb(), 1, 2));
    REQUIRE(raw.send_frame(pong));
    auto answer = read_answer(raw);
    REQUIRE(answer.code);
    CHECK(*answer.code == errc::unexpected_message);

    RawConnection second(server->port());
    second.hello();
    proto::FrameBuilder hello_ok_builder;
    auto& fbb = hello_ok_builder.fbb();
    auto hello_ok = hello_ok_builder.finish(8, wire::CreateHelloOk(fbb, 1));
    REQUIRE(second.send_frame(hello_ok));
    auto second_answer = read_answer(second);
    REQUIRE(second_answer.code);
    CHECK(*second_answer.code == errc::unexpected_message);
  }
  SECTION("a request before Hello") {
    RawConnection raw(server->port());
    REQUIRE(raw.send_frame(login_frame(3, "alice", test_password, "raw")));
    auto answer = read_answer(raw);
    REQUIRE(answer.code);
    CHECK(*answer.code == errc::hello_required);
  }
  SECTION("a request before login") {
    RawConnection raw(server->port());
    raw.hello();
    REQUIRE(raw.send_frame(send_frame(4, "bob", "sneaky", 1)));
    auto answer = read_answer(raw);
    REQUIRE(answer.code);
    CHECK(*answer.code == errc::not_authenticated);
  }
  SECTION("Hello naming protocol version 0, which no server speaks") {
    RawConnection raw(server->port());
    proto::FrameBuilder builder;
    auto& fbb = builder.fbb();
    auto name = fbb.CreateString("ancient");
    auto hello = builder.finish(1, wire::CreateHello(fbb, 0, name));
    REQUIRE(raw.send_frame(hello));
    auto answer = read_answer(raw);
    REQUIRE(answer.code);
    CHECK(*answer.code == errc::unsupported_version);
  }

  check_still_chatting(*alice, *bob);
  REQUIRE(server->running());
}

TEST_CASE("a burst of pipelined sends does not count against the bound on hashing jobs",
          "[e2e][malformed]") {
  ServerOptions options;
  options.dm_policy = "anyone";
  auto server = started_server(std::move(options));
  register_user(*server, "alice");
  register_user(*server, "bob");
  RawConnection raw(server->port());
  REQUIRE(raw.ok());
  raw.hello();
  REQUIRE(raw.send_frame(login_frame(2, "alice", test_password, "raw")));
  auto login = raw.read_frame();
  REQUIRE(login.status == Status::frame);
  REQUIRE(login.envelope->body_type() == wire::Body::LoginOk);
  // Twelve sends and a password change in one write: the sends all wait for their commit while
  // the change, which hashes on the blocking pool, is read. Only pool jobs count against
  // max_blocking_jobs (8); the sends are bounded by the session.
  std::vector<std::uint8_t> burst;
  constexpr std::uint32_t sends = 12;
  for (std::uint32_t i = 0; i < sends; ++i) {
    auto frame = send_frame(10 + i, "bob", "burst " + std::to_string(i), 1000 + i);
    burst.insert(burst.end(), frame.begin(), frame.end());
  }
  {
    proto::FrameBuilder builder;
    auto& fbb = builder.fbb();
    auto old_password = fbb.CreateString(test_password);
    auto new_password = fbb.CreateString("another-horse-2");
    auto bytes = builder.finish(100, wire::CreateChangePassword(fbb, old_password, new_password));
    burst.insert(burst.end(), bytes.begin(), bytes.end());
  }
  REQUIRE(raw.send_bytes(burst));
  std::uint32_t acks = 0;
  bool changed = false;
  while (acks < sends || !changed) {
    auto frame = raw.read_frame();
    REQUIRE(frame.status == Status::frame);
    INFO("req " << frame.envelope->req_id() << ": "
                << wire::EnumNameBody(frame.envelope->body_type()));
    REQUIRE_FALSE(error_code(frame));
    if (frame.envelope->body_type() == wire::Body::SendAck) ++acks;
    if (frame.envelope->req_id() == 100) changed = true;
  }
  CHECK(acks == sends);
}

}  // namespace qim::e2e
