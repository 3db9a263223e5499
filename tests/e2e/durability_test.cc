// Crashes and restarts: a SendAck'd message survives kill -9; clients reconnect and resync.
#include <signal.h>

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "qim/ids.h"

namespace qim::e2e {

TEST_CASE("a message acknowledged before kill -9 is there after the restart", "[e2e][durability]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  const std::string conversation = direct_conversation("alice", "bob");
  std::uint64_t acked_seq = 0;
  {
    auto alice = logged_in_client(*server, "alice");
    auto bob = logged_in_client(*server, "bob");
    make_friends(*alice, *bob);
    bob->close();
    auto ack = alice->send_to_user("bob", "survive this");
    REQUIRE(ack.ok());
    acked_seq = ack->seq;
    server->kill();  // right after the SendAck, no clean shutdown
  }
  REQUIRE(server->start());
  auto bob = logged_in_client(*server, "bob");
  auto page = bob->pull(conversation, 0, 10);
  REQUIRE(page.ok());
  REQUIRE(page->messages.size() == 1);
  CHECK(page->messages.front().seq == acked_seq);
  CHECK(page->messages.front().body == "survive this");
  // The log continues after the recovered seq.
  auto alice = logged_in_client(*server, "alice");
  auto next = alice->send_to_user("bob", "after the crash");
  REQUIRE(next.ok());
  CHECK(next->seq == acked_seq + 1);
}

TEST_CASE("clients reconnect after a restart and miss nothing, twice nothing",
          "[e2e][durability][reconnect]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  const std::string conversation = direct_conversation("alice", "bob");
  auto options = test_client_options();
  options.auto_reconnect = true;
  options.reconnect_backoff_initial = std::chrono::milliseconds(20);
  options.reconnect_backoff_max = std::chrono::milliseconds(200);
  options.max_reconnect_attempts = 200;
  auto bob = logged_in_client(*server, "bob", "dev-1", options);
  {
    auto alice = logged_in_client(*server, "alice");
    make_friends(*alice, *bob);
    REQUIRE(alice->send_to_user("bob", "before").ok());
    auto before = next_message(*bob, conversation);
    REQUIRE(before);
    CHECK(before->seq == 1);
  }

  SECTION("after SIGTERM") {
    CHECK(server->stop());
  }
  SECTION("after kill -9") {
    server->kill();
  }

  auto disconnected = bob->wait_event(
      [](const Event& event) { return std::holds_alternative<DisconnectedEvent>(event); },
      event_timeout);
  REQUIRE(disconnected);
  CHECK(std::get<DisconnectedEvent>(*disconnected).will_reconnect);

  REQUIRE(server->start());
  // Sent while bob may still be reconnecting: it reaches him live or by the resync, once.
  auto alice = logged_in_client(*server, "alice");
  for (int i = 0; i < 3; ++i)
    REQUIRE(alice->send_to_user("bob", "after").ok());
  auto reconnected = bob->wait_event(
      [](const Event& event) { return std::holds_alternative<ReconnectedEvent>(event); },
      event_timeout);
  REQUIRE(reconnected);
  for (std::uint64_t seq = 2; seq <= 4; ++seq) {
    auto message = next_message(*bob, conversation);
    REQUIRE(message);
    CHECK(message->seq == seq);
  }
  // A fresh message after the resync arrives once, as the next seq.
  REQUIRE(alice->send_to_user("bob", "last").ok());
  auto last = next_message(*bob, conversation);
  REQUIRE(last);
  CHECK(last->seq == 5);
  CHECK(last->body == "last");
  CHECK(bob->logged_in());
}

}  // namespace qim::e2e

namespace qim::e2e {

// Regression: the first dedup prune (ten minutes after start) aborted every node inside
// RocksDB. Here maintenance runs every 100 ms; the node must survive several passes and keep
// serving.
TEST_CASE("periodic maintenance runs against the real store and the node keeps serving",
          "[e2e][durability][maintenance]") {
  ServerOptions options;
  options.extra_args = {"--maintenance-interval-ms", "100", "--log-level", "debug"};
  auto server = started_server(options);
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");
  auto bob = logged_in_client(*server, "bob");
  make_friends(*alice, *bob);
  REQUIRE(alice->send_to_user("bob", "before the prunes").ok());
  auto count_passes = [&] {
    std::string log = server->log_text();
    std::size_t passes = 0;
    for (std::size_t at = log.find("pruned dedup records in"); at != std::string::npos;
         at = log.find("pruned dedup records in", at + 1))
      ++passes;
    return passes;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (count_passes() < 3 && server->running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll interval
  REQUIRE(server->running());
  CHECK(count_passes() >= 3);
  auto ack = alice->send_to_user("bob", "after the prunes");
  REQUIRE(ack.ok());
  CHECK(ack->seq == 2);
}

}  // namespace qim::e2e
