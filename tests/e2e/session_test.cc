// Accounts, login and friends against a real qimd.
#include <catch2/catch.hpp>

#include "e2e_support.h"

namespace qim::e2e {

TEST_CASE("register, log in with a password and with the token", "[e2e][session]") {
  auto server = started_server();
  auto client = connected_client(*server);

  REQUIRE(client->register_user("alice", test_password).ok());
  auto again = client->register_user("alice", test_password);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == errc::already_exists);
  auto bad_name = client->register_user("Not Valid!", test_password);
  REQUIRE_FALSE(bad_name.ok());
  CHECK(bad_name.error().code == errc::invalid_argument);

  // Register does not log in.
  auto before_login = client->sync();
  REQUIRE_FALSE(before_login.ok());
  CHECK(before_login.error().code == errc::not_authenticated);

  auto wrong = client->login("alice", "wrong-password-1", "dev-1");
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code == errc::auth_failed);
  auto nobody = client->login("nobody", test_password, "dev-1");
  REQUIRE_FALSE(nobody.ok());
  CHECK(nobody.error().code == errc::auth_failed);

  auto login = client->login("alice", test_password, "dev-1");
  INFO((login ? std::string() : login.error().message));
  REQUIRE(login.ok());
  CHECK(login->user == "alice");
  CHECK_FALSE(login->token.empty());
  CHECK_FALSE(login->node.empty());
  CHECK(client->logged_in());
  CHECK(client->ping().ok());

  auto twice = client->login("alice", test_password, "dev-1");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == errc::already_authenticated);

  auto second = connected_client(*server);
  auto by_token = second->login_with_token("alice", login->token, "dev-2");
  INFO((by_token ? std::string() : by_token.error().message));
  REQUIRE(by_token.ok());
  CHECK(by_token->user == "alice");

  auto third = connected_client(*server);
  auto bad_token = third->login_with_token("alice", "not-a-token", "dev-3");
  REQUIRE_FALSE(bad_token.ok());
  CHECK(bad_token.error().code == errc::auth_failed);

  SECTION("a changed password is required afterwards") {
    REQUIRE(client->change_password(test_password, "new-password-22").ok());
    auto fresh = connected_client(*server);
    auto old_password = fresh->login("alice", test_password, "dev-4");
    REQUIRE_FALSE(old_password.ok());
    CHECK(old_password.error().code == errc::auth_failed);
    CHECK(fresh->login("alice", "new-password-22", "dev-4").ok());
  }
}

TEST_CASE("the friend flow with its events and presence", "[e2e][friends]") {
  auto server = started_server();
  for (auto user : {"alice", "bob", "carol"})
    register_user(*server, user);
  auto alice = logged_in_client(*server, "alice");
  auto bob = logged_in_client(*server, "bob");
  auto carol = logged_in_client(*server, "carol");

  // Direct messages need friendship under the default policy.
  auto refused = alice->send_to_user("bob", "hi");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::not_friends);

  REQUIRE(alice->friend_request("bob").ok());
  auto requested = next_friend_event(*bob);
  REQUIRE(requested);
  CHECK(requested->user == "alice");
  CHECK(requested->kind == FriendEventKind::requested);

  auto pending = alice->friends();
  REQUIRE(pending.ok());
  REQUIRE(pending->size() == 1);
  CHECK(pending->front().user == "bob");
  CHECK(pending->front().state == FriendState::pending_out);
  auto incoming = bob->friends();
  REQUIRE(incoming.ok());
  REQUIRE(incoming->size() == 1);
  CHECK(incoming->front().state == FriendState::pending_in);

  REQUIRE(bob->friend_accept("alice").ok());
  auto accepted = next_friend_event(*alice);
  REQUIRE(accepted);
  CHECK(accepted->user == "bob");
  CHECK(accepted->kind == FriendEventKind::accepted);

  auto friends = alice->friends();
  REQUIRE(friends.ok());
  REQUIRE(friends->size() == 1);
  CHECK(friends->front().state == FriendState::accepted);
  CHECK(friends->front().online);

  // Decline.
  REQUIRE(carol->friend_request("alice").ok());
  auto carol_request = next_friend_event(*alice);
  REQUIRE(carol_request);
  CHECK(carol_request->user == "carol");
  REQUIRE(alice->friend_decline("carol").ok());
  auto declined = next_friend_event(*carol);
  REQUIRE(declined);
  CHECK(declined->kind == FriendEventKind::declined);

  // Presence: bob's only session ends, alice sees him go offline, then come back.
  bob->close();
  REQUIRE(next_presence(*alice, "bob", false));
  bob = logged_in_client(*server, "bob");
  REQUIRE(next_presence(*alice, "bob", true));

  // Remove.
  REQUIRE(bob->friend_remove("alice").ok());
  auto removed = next_friend_event(*alice);
  REQUIRE(removed);
  CHECK(removed->user == "bob");
  CHECK(removed->kind == FriendEventKind::removed);
  auto after = alice->send_to_user("bob", "still there?");
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().code == errc::not_friends);
}

TEST_CASE("online users are counted and paged", "[e2e][presence]") {
  auto server = started_server();
  for (auto user : {"u1", "u2", "u3"})
    register_user(*server, user);
  auto u1 = logged_in_client(*server, "u1");
  auto u2 = logged_in_client(*server, "u2");
  auto u3 = logged_in_client(*server, "u3");
  auto all = u1->online_users();
  REQUIRE(all.ok());
  CHECK(all->total == 3);
  CHECK(all->users == std::vector<std::string>{"u1", "u2", "u3"});
  auto page = u1->online_users("u1", 1);
  REQUIRE(page.ok());
  CHECK(page->users == std::vector<std::string>{"u2"});
  CHECK(page->more);
}

}  // namespace qim::e2e
