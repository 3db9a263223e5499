// Messaging across nodes with real processes: users homed on three different nodes become
// friends, chat directly and in a group, and sync, pull, page history and list their friends
// and groups, whichever nodes their conversations, friendships and groups live on.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "cluster_support.h"
#include "e2e_support.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

// Registers users until three of them have three different homes; returns them with homes.
std::vector<std::pair<std::string, std::string>> users_on_three_nodes(const ServerProcess& entry) {
  std::map<std::string, std::string> by_home;  // home -> user
  for (int i = 0; i < 60 && by_home.size() < 3; ++i) {
    std::string user = "cx" + std::to_string(i);
    auto client = connected_client(entry);
    auto registered = client->register_user(user, test_password);
    INFO(user << ": " << (registered ? "" : registered.error().message));
    REQUIRE(registered);
    auto login = client->login(user, test_password, "probe");
    REQUIRE(login);
    by_home.emplace(login->node, user);
  }
  REQUIRE(by_home.size() == 3);
  std::vector<std::pair<std::string, std::string>> users;
  for (const auto& [home, user] : by_home)
    users.emplace_back(user, home);
  return users;
}

// The bodies of `count` messages of `conversation` received live by `client`, in order.
std::vector<Message> receive(Client& client, const std::string& conversation, int count) {
  std::vector<Message> received;
  for (int i = 0; i < count; ++i) {
    auto message = next_message(client, conversation);
    if (!message) break;
    received.push_back(std::move(*message));
  }
  return received;
}

void check_in_order(const std::vector<Message>& messages, std::uint64_t first_seq) {
  for (std::size_t i = 0; i < messages.size(); ++i) {
    INFO("message " << i);
    CHECK(messages[i].seq == first_seq + i);
  }
}

}  // namespace

TEST_CASE("users homed on different nodes chat directly and in a group", "[cluster]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  auto n1 = start_node("n1", key_file, nullptr, "friends");
  auto n2 = start_node("n2", key_file, n1.get(), "friends");
  auto n3 = start_node("n3", key_file, n1.get(), "friends");
  std::vector<ServerProcess*> nodes = {n1.get(), n2.get(), n3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"n1", "n2", "n3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes.front(), 3));

  auto users = users_on_three_nodes(*n1);
  const std::string a = users[0].first, b = users[1].first, c = users[2].first;
  INFO(a << "@" << users[0].second << " " << b << "@" << users[1].second << " " << c << "@"
         << users[2].second);
  // Every session enters through n2; the client follows the redirect to its home.
  auto alice = logged_in_client(*n2, a, "laptop");
  auto alice_phone = logged_in_client(*n3, a, "phone");
  auto bob = logged_in_client(*n2, b, "laptop");
  auto carol = logged_in_client(*n2, c, "laptop");
  CHECK(alice->node() == users[0].second);
  CHECK(bob->node() == users[1].second);
  CHECK(carol->node() == users[2].second);

  // Friends across nodes (the dm policy is friends): events reach the other home.
  auto refused = alice->send_to_user(b, "before we are friends");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == errc::not_friends);
  make_friends(*alice, *bob);
  CHECK(next_presence(*alice, b, true));
  auto friends = alice->friends();
  INFO((friends ? std::string() : friends.error().message));
  REQUIRE(friends);
  REQUIRE(friends->size() == 1);
  CHECK(friends->front().user == b);
  CHECK(friends->front().state == FriendState::accepted);
  CHECK(friends->front().online);

  // Direct messages: acked with consecutive seqs, pushed to the peer and the sender's phone.
  const std::string direct = "d:" + std::min(a, b) + ":" + std::max(a, b);
  constexpr int direct_count = 20;
  for (int i = 0; i < direct_count; ++i) {
    auto ack = alice->send_to_user(b, "hello " + std::to_string(i));
    INFO((ack ? std::string() : ack.error().message));
    REQUIRE(ack);
    CHECK(ack->conversation == direct);
    CHECK(ack->seq == static_cast<std::uint64_t>(i + 1));
  }
  auto to_bob = receive(*bob, direct, direct_count);
  REQUIRE(to_bob.size() == static_cast<std::size_t>(direct_count));
  check_in_order(to_bob, 1);
  CHECK(to_bob.back().body == "hello " + std::to_string(direct_count - 1));
  CHECK(to_bob.front().sender == a);
  CHECK(receive(*alice_phone, direct, direct_count).size() ==
        static_cast<std::size_t>(direct_count));
  auto reply = bob->send_to_user(a, "hi back");
  REQUIRE(reply);
  CHECK(reply->seq == direct_count + 1);
  auto back = next_message(*alice, direct);
  REQUIRE(back);
  CHECK(back->body == "hi back");

  // A group with one member on every node.
  auto created = alice->group_create("cxg", "across", {b, c});
  INFO((created ? std::string() : created.error().message));
  REQUIRE(created);
  CHECK(next_group_event(*bob, "cxg"));
  CHECK(next_group_event(*carol, "cxg"));
  constexpr int per_sender = 5;
  std::vector<Client*> members = {alice.get(), bob.get(), carol.get()};
  for (int round = 0; round < per_sender; ++round) {
    for (Client* member : members) {
      auto ack = member->send_to_group("cxg", member->user() + " " + std::to_string(round));
      INFO((ack ? std::string() : ack.error().message));
      REQUIRE(ack);
    }
  }
  const int group_total = per_sender * static_cast<int>(members.size());
  // Each member gets the others' messages live (its own come back as acks), in seq order.
  for (Client* member : members) {
    INFO(member->user());
    auto got = receive(*member, "g:cxg", group_total - per_sender);
    CHECK(got.size() == static_cast<std::size_t>(group_total - per_sender));
    for (std::size_t i = 1; i < got.size(); ++i)
      CHECK(got[i].seq > got[i - 1].seq);
    for (const Message& message : got)
      CHECK(message.sender != member->user());
  }

  // Sync and pull from another device: everything is there, from every home.
  auto carol_tablet = logged_in_client(*n1, c, "tablet");
  auto states = carol_tablet->sync();
  INFO((states ? std::string() : states.error().message));
  REQUIRE(states);
  REQUIRE(states->size() == 1);
  CHECK(states->front().conversation == "g:cxg");
  CHECK(states->front().head_seq == static_cast<std::uint64_t>(group_total));
  auto page = carol_tablet->pull("g:cxg", 0, 100);
  REQUIRE(page);
  REQUIRE(page->messages.size() == static_cast<std::size_t>(group_total));
  check_in_order(page->messages, 1);
  auto older = carol_tablet->history("g:cxg", 6, 3);
  REQUIRE(older);
  REQUIRE(older->messages.size() == 3);
  CHECK(older->messages.front().seq == 3);
  CHECK(older->messages.back().seq == 5);

  auto bob_states = bob->sync();
  REQUIRE(bob_states);
  std::map<std::string, std::uint64_t> heads;
  for (const ConversationState& state : bob_states.value())
    heads[state.conversation] = state.head_seq;
  CHECK(heads ==
        std::map<std::string, std::uint64_t>{{direct, direct_count + 1}, {"g:cxg", group_total}});

  // Read cursors live at the reader's home; the head they are checked against elsewhere.
  REQUIRE(bob->ack(direct, direct_count + 1));
  auto beyond = bob->ack(direct, direct_count + 5);
  REQUIRE_FALSE(beyond);
  CHECK(beyond.error().code == errc::invalid_argument);
  auto bob_again = bob->sync();
  REQUIRE(bob_again);
  for (const ConversationState& state : bob_again.value()) {
    if (state.conversation == direct) CHECK(state.read_seq == direct_count + 1);
  }
  auto outsider = carol->pull(direct, 0, 10);
  REQUIRE_FALSE(outsider);
  CHECK(outsider.error().code == errc::forbidden);

  // Lists gathered from every node.
  auto groups = bob->my_groups();
  REQUIRE(groups);
  REQUIRE(groups->size() == 1);
  CHECK(groups->front().group == "cxg");
  CHECK(groups->front().member_count == 3);
  auto roster = carol->group_members("cxg");
  REQUIRE(roster);
  REQUIRE(roster->members.size() == 3);
  for (const GroupMember& member : roster->members)
    CHECK(member.online);

  // Leaving and removal propagate as events to every home.
  REQUIRE(carol->group_leave("cxg"));
  auto left = next_group_event(*alice, "cxg");
  REQUIRE(left);
  CHECK(left->kind == GroupEventKind::left);
  auto not_member = carol->send_to_group("cxg", "still here?");
  REQUIRE_FALSE(not_member);
  CHECK(not_member.error().code == errc::not_member);

  // Presence crosses nodes: bob's friend hears him go offline and come back.
  bob->close();
  CHECK(next_presence(*alice, b, false));
  auto bob_back = logged_in_client(*n3, b, "laptop");
  CHECK(next_presence(*alice, b, true));
}

}  // namespace qim::e2e

namespace qim::e2e {

TEST_CASE("a crashed node's users go on through the others, and it returns with everything",
          "[cluster]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  auto k1 = start_node("k1", key_file, nullptr);
  auto k2 = start_node("k2", key_file, k1.get());
  auto k3 = start_node("k3", key_file, k1.get());
  std::map<std::string, ServerProcess*> by_name = {
      {"k1", k1.get()}, {"k2", k2.get()}, {"k3", k3.get()}};
  std::vector<ServerProcess*> nodes = {k1.get(), k2.get(), k3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"k1", "k2", "k3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes.front(), 3));

  // One user on each node; the one on the node that will crash is the victim.
  std::map<std::string, std::string> user_on;  // node -> user
  for (int i = 0; i < 60 && user_on.size() < 3; ++i) {
    std::string user = "kx" + std::to_string(i);
    auto client = connected_client(*k1);
    REQUIRE(client->register_user(user, test_password));
    auto login = client->login(user, test_password, "probe");
    REQUIRE(login);
    user_on.emplace(login->node, user);
  }
  REQUIRE(user_on.size() == 3);
  // k3 crashes; k1 is the entry node, so it must stay up.
  const std::string victim_node = "k3";
  const std::string victim = user_on[victim_node];
  const std::string sender = user_on["k1"];
  // Requests to the dead node's data are retried (Unavailable) for as long as their timeout:
  // a short one keeps the refusals below quick.
  ClientOptions patient_briefly = test_client_options();
  patient_briefly.request_timeout = std::chrono::seconds(1);
  auto alice = logged_in_client(*k1, sender, "laptop", patient_briefly);
  auto carol = logged_in_client(*k1, victim, "laptop");
  CHECK(carol->node() == victim_node);
  REQUIRE(alice->group_create("kxg", "crash", {user_on["k2"], victim}));

  // Messages before the crash.
  std::uint64_t acked = 0;
  for (int i = 0; i < 5; ++i) {
    auto ack = alice->send_to_group("kxg", "before " + std::to_string(i));
    REQUIRE(ack);
    acked = ack->seq;
  }

  ServerProcess& crashed = *by_name[victim_node];
  crashed.kill();
  std::vector<ServerProcess*> survivors = {k1.get(), k2.get()};
  REQUIRE(eventually(
      [&] {
        for (ServerProcess* node : survivors) {
          auto states = member_states(*node);
          if (!states || (*states)[victim_node] != "dead") return false;
        }
        return true;
      },
      convergence_timeout));

  // The victim's partition elects a leader among its other replicas: they log in through the
  // survivors within moments, and the group goes on.
  {
    std::unique_ptr<Client> client;
    REQUIRE(eventually(
        [&] {
          client = connected_client(*k1, patient_briefly);
          auto login = client->login(victim, test_password, "laptop");
          return login.ok() && login->node != victim_node;
        },
        convergence_timeout));
  }
  for (int i = 0; i < 5; ++i) {
    std::optional<SendAck> ack;
    REQUIRE(eventually(
        [&] {
          auto sent = alice->send_to_group("kxg", "during " + std::to_string(i),
                                           0x7000 + static_cast<std::uint64_t>(i));
          if (!sent) {
            CHECK(sent.error().code == errc::unavailable);  // a leader being elected
            return false;
          }
          ack = sent.value();
          return true;
        },
        convergence_timeout));
    CHECK(ack->seq == acked + 1);
    acked = ack->seq;
  }

  // It comes back with the same name and data: its users and everything acked are there.
  REQUIRE(crashed.start());
  REQUIRE(eventually([&] { return all_see(nodes, {"k1", "k2", "k3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes.front(), 3));
  std::unique_ptr<Client> back;
  REQUIRE(eventually(
      [&] {
        back = connected_client(*k1);
        return back->login(victim, test_password, "tablet").ok();
      },
      convergence_timeout));
  std::optional<Result<MessagePage>> page;
  REQUIRE(eventually(
      [&] {
        page = back->pull("g:kxg", 0, 100);
        return page->ok();
      },
      convergence_timeout));
  REQUIRE(page->value().messages.size() == acked);
  for (std::size_t i = 0; i < page->value().messages.size(); ++i)
    CHECK(page->value().messages[i].seq == i + 1);
  auto after = alice->send_to_group("kxg", "after");
  INFO((after ? std::string() : after.error().message));
  REQUIRE(after);
  CHECK(after->seq == acked + 1);
}

}  // namespace qim::e2e

namespace qim::e2e {
namespace {

// Sends until acknowledged, retrying Unavailable (a key moving between nodes) with the same
// client message id, so a retry of a message that was stored is deduplicated, never doubled.
std::optional<SendAck> send_until_acked(Client& client, const std::string& group,
                                        const std::string& body, std::uint64_t client_msg_id) {
  std::optional<SendAck> acked;
  bool ok = eventually(
      [&] {
        auto ack = client.send_to_group(group, body, client_msg_id);
        if (ack) {
          acked = ack.value();
          return true;
        }
        INFO(ack.error().message);
        CHECK(ack.error().code == errc::unavailable);
        return false;
      },
      convergence_timeout);
  if (!ok) return std::nullopt;
  return acked;
}

}  // namespace

TEST_CASE("conversations move with the ring when nodes join and leave, losing nothing",
          "[cluster]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  auto j1 = start_node("j1", key_file, nullptr);
  auto j2 = start_node("j2", key_file, j1.get());
  auto j3 = start_node("j3", key_file, j1.get());
  std::vector<ServerProcess*> three = {j1.get(), j2.get(), j3.get()};
  REQUIRE(eventually([&] { return all_see(three, {"j1", "j2", "j3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*three.front(), 3));

  register_user(*j1, "jowner");
  register_user(*j1, "jreader");
  // Its home may move: the client follows the Redirect and logs in again there.
  auto owner = logged_in_client(*j1, "jowner", "laptop", reconnecting_options());
  // Many groups, so some of them move to the newcomer whatever the ring looks like.
  constexpr int group_count = 24;
  std::vector<std::string> groups;
  for (int g = 0; g < group_count; ++g) {
    groups.push_back("jg" + std::to_string(g));
    auto created = owner->group_create(groups.back(), "moving", {"jreader"});
    INFO((created ? std::string() : created.error().message));
    REQUIRE(created);
  }
  std::map<std::string, std::uint64_t> sent;  // group -> messages acknowledged
  std::uint64_t next_id = 1;
  auto send_round = [&](const std::string& phase) {
    for (const std::string& group : groups) {
      auto ack = send_until_acked(*owner, group, phase + " " + group, next_id++);
      REQUIRE(ack);
      CHECK(ack->seq == sent[group] + 1);
      sent[group] = ack->seq;
    }
  };
  send_round("three");

  auto j4 = start_node("j4", key_file, j1.get());
  std::vector<ServerProcess*> four = {j1.get(), j2.get(), j3.get(), j4.get()};
  REQUIRE(eventually([&] { return all_see(four, {"j1", "j2", "j3", "j4"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*four.front(), 4));
  send_round("four");

  REQUIRE(j4->stop());  // graceful: hands everything back before it exits
  REQUIRE(eventually([&] { return all_see(three, {"j1", "j2", "j3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*three.front(), 3));
  send_round("three again");

  // Every group's log holds exactly the acknowledged messages, in order, once each.
  auto reader = logged_in_client(*j2, "jreader", "tablet");
  for (const std::string& group : groups) {
    INFO(group);
    std::optional<Result<MessagePage>> page;
    REQUIRE(eventually(
        [&] {
          page = reader->pull("g:" + group, 0, 100);
          return page->ok();
        },
        convergence_timeout));
    const auto& messages = page->value().messages;
    REQUIRE(messages.size() == sent[group]);
    std::set<std::string> bodies;
    for (std::size_t i = 0; i < messages.size(); ++i) {
      CHECK(messages[i].seq == i + 1);
      bodies.insert(messages[i].body);
    }
    CHECK(bodies.size() == messages.size());
  }
}

}  // namespace qim::e2e
