// Live delivery with real processes: what a client hands its application stays in seq order
// and complete, once each, through lost pushes between nodes, a paused home, and resyncs.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "cluster_support.h"
#include "e2e_support.h"
#include "qim/ids.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

using namespace std::chrono_literals;

// A node of a three-node test cluster with extra flags. `suspicion_multiplier` large keeps a
// paused node suspect (still routed to) rather than dead for as long as a test pauses it.
std::unique_ptr<ServerProcess> start_cluster_node(const std::string& name,
                                                  const std::string& key_file,
                                                  const ServerProcess* seed,
                                                  const std::vector<std::string>& extra_args) {
  ServerOptions options;
  options.node_name = name;
  options.dm_policy = "anyone";
  options.extra_args = {"--cluster-key-file",      key_file, "--gossip-interval-ms", "50",
                        "--push-pull-interval-ms", "2000"};
  options.extra_args.insert(options.extra_args.end(), extra_args.begin(), extra_args.end());
  if (seed != nullptr) {
    options.extra_args.push_back("--seed");
    options.extra_args.push_back(seed->gossip_address());
  }
  return started_server(std::move(options));
}

// A counter of this node's own row in `qimctl --json stats`; nullopt when qimctl failed.
std::optional<std::uint64_t> own_stat(const ServerProcess& server, const std::string& field) {
  CommandResult result = qimctl(server, {"--json", "stats"});
  if (!result.exit_code || *result.exit_code != 0) return std::nullopt;
  std::regex pattern("\"self\":true[^{}]*\"" + field + "\":([0-9]+)");
  std::smatch match;
  if (!std::regex_search(result.out, match, pattern)) return std::nullopt;
  return std::stoull(match[1]);
}

// A user registered through `entry` whose home is `home` (tries a bounded number of names).
std::string user_homed_on(const ServerProcess& entry, const std::string& home,
                          const std::string& prefix) {
  for (int i = 0; i < 80; ++i) {
    std::string user = prefix + std::to_string(i);
    auto client = connected_client(entry);
    REQUIRE(client->register_user(user, test_password));
    auto login = client->login(user, test_password, "probe");
    REQUIRE(login);
    if (login->node == home) return user;
  }
  FAIL("no user homed on " << home << " among 80 names");
  return {};
}

// What a client handed its application for one conversation, and whether it lost its session.
struct Received {
  std::vector<Message> messages;
  bool disconnected = false;
  std::string disconnect_message;
};

// Collects `client`'s events until `conversation` reached `last_seq` or the deadline passed.
Received receive_through(Client& client, const std::string& conversation, std::uint64_t last_seq,
                         std::chrono::milliseconds timeout = event_timeout) {
  Received received;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (received.messages.empty() || received.messages.back().seq < last_seq) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto event = client.next_event(left);
    if (!event) break;
    if (const auto* message = std::get_if<MessageEvent>(&*event)) {
      if (message->message.conversation == conversation)
        received.messages.push_back(message->message);
    } else if (const auto* lost = std::get_if<DisconnectedEvent>(&*event)) {
      received.disconnected = true;
      received.disconnect_message = lost->message;
    }
  }
  return received;
}

// Each seq from `first` to `last` exactly once, in order.
void check_complete_in_order(const std::vector<Message>& messages, std::uint64_t first,
                             std::uint64_t last) {
  std::vector<std::uint64_t> seqs;
  for (const auto& message : messages)
    seqs.push_back(message.seq);
  std::vector<std::uint64_t> expected;
  for (std::uint64_t seq = first; seq <= last; ++seq)
    expected.push_back(seq);
  CHECK(seqs == expected);
}

}  // namespace

// The soak's "live pushes lost without a trace": a client connected throughout its node's pause
// never got the messages pushed to it meanwhile, and learned of them only after reconnecting.
// Here the node is paused long enough to be declared dead (so pushes for its users are not sent
// at all) and for the links to it to be closed for silence; the loss must be noticed when it is
// back, and caught up over the same client connection.
TEST_CASE(
    "pushes lost while a node was paused reach its clients when it is back, in order, "
    "without reconnecting",
    "[cluster][live]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  const std::vector<std::string> swim = {"--probe-interval-ms", "200", "--probe-timeout-ms", "100"};
  auto n1 = start_cluster_node("n1", key_file, nullptr, swim);
  // Its clients' pings wait in its socket while it is stopped: a long idle timeout keeps them.
  std::vector<std::string> paused_args = swim;
  paused_args.insert(paused_args.end(), {"--idle-timeout-ms", "120000"});
  auto n2 = start_cluster_node("n2", key_file, n1.get(), paused_args);
  auto n3 = start_cluster_node("n3", key_file, n1.get(), swim);
  std::vector<ServerProcess*> nodes = {n1.get(), n2.get(), n3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"n1", "n2", "n3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes.front(), 3));

  const std::string bob = user_homed_on(*n1, "n2", "pb");
  const std::string alice = user_homed_on(*n1, "n1", "pa");
  ClientOptions receiver = test_client_options();
  receiver.auto_reconnect = true;
  receiver.pong_timeout = 60s;  // the pause must not end the session: that is another test
  auto bob_client = logged_in_client(*n1, bob, "phone", receiver);
  REQUIRE(bob_client->node() == "n2");
  // Leaderships move while n2 sleeps, so alice's session may be sent to her new home too.
  ClientOptions sender = test_client_options();
  sender.auto_reconnect = true;
  auto alice_client = logged_in_client(*n1, alice, "laptop", sender);

  // A group homed on n1 or n3 (the node that pushes to n2), found by where its first message
  // is stored.
  std::string group;
  ServerProcess* group_home = nullptr;
  for (int i = 0; i < 12 && group_home == nullptr; ++i) {
    std::string candidate = "lg" + std::to_string(i);
    REQUIRE(alice_client->group_create(candidate, "live", {bob}));
    std::map<ServerProcess*, std::uint64_t> before;
    for (ServerProcess* node : {n1.get(), n3.get()}) {
      auto stored = own_stat(*node, "messages_stored");
      REQUIRE(stored);
      before[node] = *stored;
    }
    REQUIRE(alice_client->send_to_group(candidate, "first"));
    for (ServerProcess* node : {n1.get(), n3.get()}) {
      auto stored = own_stat(*node, "messages_stored");
      REQUIRE(stored);
      if (*stored > before[node]) {
        group = candidate;
        group_home = node;
      }
    }
  }
  REQUIRE(group_home != nullptr);
  const std::string conversation = group_conversation(group);
  auto first = receive_through(*bob_client, conversation, 1);
  REQUIRE(first.messages.size() == 1);

  n2->pause();
  std::vector<ServerProcess*> others = {n1.get(), n3.get()};
  REQUIRE(eventually(
      [&] {
        for (ServerProcess* node : others) {
          auto states = member_states(*node);
          if (!states || (*states)["n2"] != "dead") return false;
        }
        return true;
      },
      convergence_timeout));
  // Stored while n2 is given up (nothing is pushed to it), until the group's home has closed
  // its links with n2 both ways: its own when n2 was declared dead (or silent), n2's for
  // silence.
  auto links_closed = [&] {
    std::string log = group_home->log_text();
    bool outbound =
        log.find("n2 is no longer a live member; closing its link") != std::string::npos ||
        log.find("link to n2 silent") != std::string::npos;
    return outbound && log.find("link from n2 silent") != std::string::npos;
  };
  std::uint64_t last_seq = 1;
  int sent = 0;
  std::string send_error;
  bool link_closed = eventually(
      [&] {
        auto ack = alice_client->send_to_group(group, "while n2 is away " + std::to_string(sent));
        if (!ack) {
          send_error = ack.error().message;  // e.g. between a redirect and the new session
          return false;
        }
        last_seq = ack->seq;
        ++sent;
        return sent >= 5 && links_closed();
      },
      convergence_timeout, 200ms);
  n2->resume();
  INFO("sent " << sent << " while n2 was away; last send error: " << send_error);
  REQUIRE(link_closed);

  // Back: every message reaches bob, in order, once. While n2 slept its partitions elected
  // leaders elsewhere, so bob's session may be sent to his new home (a redirect, then a
  // resync there); if it stays, n2 tells it to resync what the closed links lost.
  auto received = receive_through(*bob_client, conversation, last_seq, 30s);
  INFO("received up to " << (received.messages.empty() ? 0 : received.messages.back().seq) << " of "
                         << last_seq);
  check_complete_in_order(received.messages, 2, last_seq);
  REQUIRE(eventually([&] { return bob_client->logged_in(); }, convergence_timeout));
  if (!received.disconnected) {
    CHECK(n2->log_text().find("here to resync") != std::string::npos);
  }

  // And nothing comes twice afterwards: the next message is the next seq.
  auto next = alice_client->send_to_group(group, "after");
  REQUIRE(next);
  auto after = receive_through(*bob_client, conversation, next->seq);
  REQUIRE(after.messages.size() == 1);
  CHECK(after.messages.front().seq == last_seq + 1);
}

// The soak's "clients of a paused node hang until their own request timeout".
TEST_CASE(
    "a paused home is noticed within the heartbeat bound, and its client comes back with "
    "everything once",
    "[cluster][live]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  // Heartbeats every 500 ms (advertised in HelloOk); fast SWIM, as in the other cluster tests.
  std::vector<std::string> args = {"--heartbeat-interval-ms", "500", "--probe-interval-ms", "200",
                                   "--probe-timeout-ms",      "100"};
  auto n1 = start_cluster_node("n1", key_file, nullptr, args);
  auto n2 = start_cluster_node("n2", key_file, n1.get(), args);
  auto n3 = start_cluster_node("n3", key_file, n1.get(), args);
  std::vector<ServerProcess*> nodes = {n1.get(), n2.get(), n3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"n1", "n2", "n3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes.front(), 3));

  const std::string carol = user_homed_on(*n1, "n2", "hc");
  const std::string dave = user_homed_on(*n1, "n1", "hd");
  ClientOptions options = test_client_options();
  options.auto_reconnect = true;
  options.pong_timeout = 1s;
  options.request_timeout = 60s;  // far beyond the heartbeat bound
  options.reconnect_backoff_initial = 50ms;
  options.reconnect_backoff_max = 500ms;
  options.max_reconnect_attempts = 1000;
  // Through n1: the client knows another node than its home.
  auto carol_client = logged_in_client(*n1, carol, "phone", options);
  REQUIRE(carol_client->node() == "n2");
  auto dave_client = logged_in_client(*n1, dave, "laptop");
  const std::string conversation = direct_conversation(carol, dave);
  REQUIRE(dave_client->send_to_user(carol, "before"));
  auto before = receive_through(*carol_client, conversation, 1);
  REQUIRE(before.messages.size() == 1);

  n2->pause();
  auto paused_at = std::chrono::steady_clock::now();
  // A request sent to the silent node that may not be repeated fails when the heartbeat gives
  // the node up, not at its own timeout (a minute).
  auto refused = carol_client->friend_request(dave);
  auto failed_after = std::chrono::steady_clock::now() - paused_at;
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::unavailable);
  CHECK_THAT(refused.error().message, Catch::Contains("stopped answering"));
  CHECK(failed_after < 30s);
  auto lost = carol_client->wait_event(
      [](const Event& event) { return std::holds_alternative<DisconnectedEvent>(event); },
      event_timeout);
  REQUIRE(lost);
  const auto& disconnected = std::get<DisconnectedEvent>(*lost);
  CHECK(disconnected.will_reconnect);
  CHECK(disconnected.node == "n2");
  CHECK_THAT(disconnected.message, Catch::Contains("no Pong in 1 s"));
  CHECK(carol_client->reconnecting());

  // Back, while carol's client is reconnecting (or just has): messages sent now reach her
  // live or by the resync that follows the reconnection, each once.
  n2->resume();
  std::uint64_t last_seq = 1;
  for (int i = 0; i < 3; ++i) {
    auto ack = dave_client->send_to_user(carol, "meanwhile " + std::to_string(i));
    INFO((ack ? std::string() : ack.error().message));
    REQUIRE(ack);
    last_seq = ack->seq;
  }
  auto back = carol_client->wait_event(
      [](const Event& event) { return std::holds_alternative<ReconnectedEvent>(event); },
      convergence_timeout);
  REQUIRE(back);
  // Back at n2, or at the node that leads carol's partition now.
  CHECK_FALSE(std::get<ReconnectedEvent>(*back).node.empty());
  CHECK_FALSE(carol_client->reconnecting());
  // The catch-up runs behind the login and reports its end (a failed attempt first, while
  // partitions still change leaders after the pause, is followed by one that succeeds).
  auto caught_up = carol_client->wait_event(
      [](const Event& event) {
        const auto* caught_up = std::get_if<CaughtUpEvent>(&event);
        return caught_up != nullptr && caught_up->ok;
      },
      convergence_timeout);
  REQUIRE(caught_up);
  // Everything once and in order, whether it came live or by the resync after the reconnect.
  auto received = receive_through(*carol_client, conversation, last_seq);
  check_complete_in_order(received.messages, 2, last_seq);
  // Calls wait for nothing now and go through.
  CHECK(carol_client->sync());
}

// The soak's "old messages pushed again seconds after a resync had fetched them".
TEST_CASE("messages pulled by a resync are not handed over again when their pushes come",
          "[e2e][live]") {
  auto server = started_server();
  register_user(*server, "ann");
  register_user(*server, "ben");
  auto ann = logged_in_client(*server, "ann");
  auto ben = logged_in_client(*server, "ben");
  make_friends(*ann, *ben);
  const std::string conversation = direct_conversation("ann", "ben");
  constexpr int count = 60;
  std::atomic<bool> sending{true};
  std::thread sender([&] {
    for (int i = 0; i < count; ++i) {
      auto ack = ann->send_to_user("ben", "m" + std::to_string(i));
      if (!ack) break;
    }
    sending = false;
  });
  // Resyncs while the pushes stream in: the same messages come both ways, often.
  int resyncs = 0;
  while (sending && resyncs < 200) {
    auto backlog = ben->deliver_backlog();
    INFO((backlog ? std::string() : backlog.error().message));
    CHECK(backlog);
    ++resyncs;
  }
  sender.join();
  CHECK(ben->deliver_backlog());
  auto received = receive_through(*ben, conversation, count);
  check_complete_in_order(received.messages, 1, count);
  CHECK(resyncs > 0);
}

}  // namespace qim::e2e
