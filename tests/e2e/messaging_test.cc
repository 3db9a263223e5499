// Direct and group messages, offline delivery, devices, dedup and history on a real qimd.
#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "qim/ids.h"

namespace qim::e2e {

TEST_CASE("direct messages between two online users, on I/O threads or one event loop",
          "[e2e][messages]") {
  // --threads 1: the client connections share the control loop with the peers and replicas.
  const std::string threads = GENERATE(as<std::string>{}, "2", "1");
  INFO("--threads " << threads);
  ServerOptions options;
  options.extra_args = {"--threads", threads};
  auto server = started_server(std::move(options));
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");
  auto bob = logged_in_client(*server, "bob");
  make_friends(*alice, *bob);
  const std::string conversation = direct_conversation("alice", "bob");

  for (int i = 1; i <= 5; ++i) {
    auto ack = alice->send_to_user("bob", "hello " + std::to_string(i));
    INFO((ack ? std::string() : ack.error().message));
    REQUIRE(ack.ok());
    CHECK(ack->conversation == conversation);
    CHECK(ack->seq == static_cast<std::uint64_t>(i));
    CHECK_FALSE(ack->duplicate);
  }
  for (int i = 1; i <= 5; ++i) {
    auto message = next_message(*bob, conversation);
    REQUIRE(message);
    CHECK(message->seq == static_cast<std::uint64_t>(i));
    CHECK(message->sender == "alice");
    CHECK(message->body == "hello " + std::to_string(i));
  }
  auto reply = bob->send_to_user("alice", std::string("binary\0body", 11));
  REQUIRE(reply.ok());
  CHECK(reply->seq == 6);
  auto received = next_message(*alice, conversation);
  REQUIRE(received);
  CHECK(received->body == std::string("binary\0body", 11));
  CHECK(received->sender == "bob");

  auto states = bob->sync();
  REQUIRE(states.ok());
  REQUIRE(states->size() == 1);
  CHECK(states->front().conversation == conversation);
  CHECK(states->front().head_seq == 6);
  CHECK(states->front().peer == "alice");

  // With the clients still connected (their timers on the loop shutdown runs on, with
  // --threads 1), SIGTERM ends the process with exit code 0.
  CHECK(server->stop(std::chrono::seconds(15)));
  CHECK(server->term_signal() == 0);
}

TEST_CASE("messages to an offline user arrive in order at login", "[e2e][messages][offline]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice");
    auto bob = logged_in_client(*server, "bob");
    make_friends(*alice, *bob);
    bob->close();
    for (int i = 1; i <= 12; ++i) {
      REQUIRE(alice->send_to_user("bob", "offline " + std::to_string(i)).ok());
    }
  }
  const std::string conversation = direct_conversation("alice", "bob");
  auto options = test_client_options();
  options.auto_ack = true;
  options.page_limit = 5;  // forces paging through `more`
  auto bob = logged_in_client(*server, "bob", "phone", options);
  auto states = bob->sync();
  REQUIRE(states.ok());
  REQUIRE(states->size() == 1);
  CHECK(states->front().head_seq == 12);
  CHECK(states->front().read_seq == 0);

  auto delivered = bob->deliver_backlog();
  REQUIRE(delivered.ok());
  CHECK(delivered.value() == 12);
  for (int i = 1; i <= 12; ++i) {
    auto message = next_message(*bob, conversation);
    REQUIRE(message);
    CHECK(message->seq == static_cast<std::uint64_t>(i));
    CHECK(message->body == "offline " + std::to_string(i));
  }
  // auto_ack moved this device's cursor: the same device sees nothing new next time.
  bob->close();
  auto again = logged_in_client(*server, "bob", "phone", options);
  auto states_after = again->sync();
  REQUIRE(states_after.ok());
  REQUIRE(states_after->size() == 1);
  CHECK(states_after->front().read_seq == 12);
  auto none = again->deliver_backlog();
  REQUIRE(none.ok());
  CHECK(none.value() == 0);
  // Another device has its own cursor.
  auto laptop = logged_in_client(*server, "bob", "laptop");
  auto all = laptop->deliver_backlog();
  REQUIRE(all.ok());
  CHECK(all.value() == 12);
}

TEST_CASE("a group of three", "[e2e][groups]") {
  auto server = started_server();
  for (auto user : {"alice", "bob", "carol", "dave"})
    register_user(*server, user);
  auto alice = logged_in_client(*server, "alice");
  auto bob = logged_in_client(*server, "bob");
  auto carol = logged_in_client(*server, "carol");
  auto dave = logged_in_client(*server, "dave");

  auto created = alice->group_create("team", "The Team", {"bob", "carol"});
  INFO((created ? std::string() : created.error().message));
  REQUIRE(created.ok());
  auto members = bob->group_members("team");
  REQUIRE(members.ok());
  CHECK(members->members.size() == 3);
  CHECK(members->info.owner == "alice");
  CHECK(members->info.name == "The Team");
  auto groups = carol->my_groups();
  REQUIRE(groups.ok());
  REQUIRE(groups->size() == 1);
  CHECK(groups->front().group == "team");
  CHECK(groups->front().role == GroupRole::member);

  const std::string conversation = group_conversation("team");
  auto first = alice->send_to_group("team", "hi team");
  REQUIRE(first.ok());
  CHECK(first->conversation == conversation);
  for (auto* member : {bob.get(), carol.get()}) {
    auto message = next_message(*member, conversation);
    REQUIRE(message);
    CHECK(message->body == "hi team");
    CHECK(message->sender == "alice");
  }
  auto second = carol->send_to_group("team", "hi from carol");
  REQUIRE(second.ok());
  CHECK(second->seq == first->seq + 1);
  for (auto* member : {alice.get(), bob.get()}) {
    auto message = next_message(*member, conversation);
    REQUIRE(message);
    CHECK(message->body == "hi from carol");
  }

  auto outsider = dave->send_to_group("team", "let me in");
  REQUIRE_FALSE(outsider.ok());
  CHECK(outsider.error().code == errc::not_member);
  auto outsider_history = dave->history(conversation);
  REQUIRE_FALSE(outsider_history.ok());

  // Only the owner or an admin removes members.
  auto not_allowed = bob->group_remove("team", "carol");
  REQUIRE_FALSE(not_allowed.ok());
  CHECK(not_allowed.error().code == errc::forbidden);
  REQUIRE(alice->group_set_role("team", "bob", GroupRole::admin).ok());
  REQUIRE(bob->group_remove("team", "carol").ok());
  auto removed = next_group_event(*carol, "team");
  REQUIRE(removed);
  auto after_removal = carol->send_to_group("team", "still here?");
  REQUIRE_FALSE(after_removal.ok());
  CHECK(after_removal.error().code == errc::not_member);

  REQUIRE(alice->group_add("team", {"dave"}).ok());
  auto dave_added = next_group_event(*dave, "team");
  REQUIRE(dave_added);
  CHECK(dave_added->kind == GroupEventKind::added);
  REQUIRE(dave->send_to_group("team", "thanks").ok());
  auto thanks = next_message(*bob, conversation);
  REQUIRE(thanks);
  CHECK(thanks->sender == "dave");

  REQUIRE(dave->group_leave("team").ok());
  REQUIRE(alice->group_dissolve("team").ok());
  auto gone = bob->group_members("team");
  REQUIRE_FALSE(gone.ok());
}

TEST_CASE("every device of a user gets pushes, the sender's other devices too",
          "[e2e][messages][devices]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto phone = logged_in_client(*server, "alice", "phone");
  auto laptop = logged_in_client(*server, "alice", "laptop");
  auto bob = logged_in_client(*server, "bob", "desk");
  make_friends(*phone, *bob);
  const std::string conversation = direct_conversation("alice", "bob");

  REQUIRE(bob->send_to_user("alice", "to both").ok());
  for (auto* device : {phone.get(), laptop.get()}) {
    auto message = next_message(*device, conversation);
    REQUIRE(message);
    CHECK(message->body == "to both");
  }
  REQUIRE(phone->send_to_user("bob", "from the phone").ok());
  auto at_bob = next_message(*bob, conversation);
  REQUIRE(at_bob);
  CHECK(at_bob->body == "from the phone");
  CHECK(at_bob->sender_device == "phone");
  auto at_laptop = next_message(*laptop, conversation);
  REQUIRE(at_laptop);
  CHECK(at_laptop->body == "from the phone");
}

TEST_CASE("a resent client_msg_id is stored and delivered once", "[e2e][messages][dedup]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");
  auto bob_client = logged_in_client(*server, "bob");
  make_friends(*alice, *bob_client);
  bob_client->close();

  // Bob listens on a raw connection, so the library's own (conversation, seq) dedup cannot
  // hide a second Deliver from the server.
  RawConnection bob(server->port());
  REQUIRE(bob.ok());
  bob.hello();
  REQUIRE(bob.send_frame(login_frame(2, "bob", test_password, "raw")));
  auto login = bob.read_frame();
  REQUIRE(login.status == RawConnection::ReadStatus::frame);
  REQUIRE(login.envelope->body_type() == wire::Body::LoginOk);

  auto first = alice->send_to_user("bob", "once", 4242);
  REQUIRE(first.ok());
  CHECK_FALSE(first->duplicate);
  auto retry = alice->send_to_user("bob", "once", 4242);
  REQUIRE(retry.ok());
  CHECK(retry->duplicate);
  CHECK(retry->seq == first->seq);
  auto next = alice->send_to_user("bob", "twice", 4243);
  REQUIRE(next.ok());
  CHECK(next->seq == first->seq + 1);

  // Pushes arrive in order: the first Deliver is seq 1, the next one must be seq 2.
  std::vector<std::uint64_t> seqs;
  while (seqs.size() < 2) {
    auto frame = bob.read_frame();
    REQUIRE(frame.status == RawConnection::ReadStatus::frame);
    if (frame.envelope->req_id() != 0) continue;
    const auto* deliver = frame.envelope->body_as_Deliver();
    if (deliver == nullptr || deliver->message() == nullptr) continue;  // presence and such
    seqs.push_back(deliver->message()->seq());
  }
  CHECK(seqs == std::vector<std::uint64_t>{first->seq, next->seq});

  auto page = alice->pull(direct_conversation("alice", "bob"), 0, 10);
  REQUIRE(page.ok());
  CHECK(page->messages.size() == 2);
}

TEST_CASE("history pages back oldest first", "[e2e][messages][history]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");
  auto bob = logged_in_client(*server, "bob");
  make_friends(*alice, *bob);
  const std::string conversation = direct_conversation("alice", "bob");
  for (int i = 1; i <= 25; ++i) {
    REQUIRE(alice->send_to_user("bob", "m" + std::to_string(i)).ok());
  }
  auto seqs = [](const MessagePage& page) {
    std::vector<std::uint64_t> out;
    for (const auto& message : page.messages)
      out.push_back(message.seq);
    return out;
  };
  auto range = [](std::uint64_t first, std::uint64_t last) {
    std::vector<std::uint64_t> out;
    for (auto seq = first; seq <= last; ++seq)
      out.push_back(seq);
    return out;
  };
  auto newest = bob->history(conversation, 0, 10);
  REQUIRE(newest.ok());
  CHECK(seqs(newest.value()) == range(16, 25));
  CHECK(newest->more);
  auto middle = bob->history(conversation, 16, 10);
  REQUIRE(middle.ok());
  CHECK(seqs(middle.value()) == range(6, 15));
  CHECK(middle->more);
  auto oldest = bob->history(conversation, 6, 10);
  REQUIRE(oldest.ok());
  CHECK(seqs(oldest.value()) == range(1, 5));
  CHECK_FALSE(oldest->more);
  CHECK(oldest->messages.front().body == "m1");

  auto pulled = bob->pull(conversation, 20, 100);
  REQUIRE(pulled.ok());
  CHECK(seqs(pulled.value()) == range(21, 25));
  CHECK_FALSE(pulled->more);
}

}  // namespace qim::e2e
