#include <catch2/catch.hpp>

#include "session_test_fixture.h"

using namespace qim;
using namespace qim::testing;
using wire::Body;

TEST_CASE("session: the first frame must be Hello", "[session]") {
  World world;
  Client client(world.service);
  Frame reply = client.request([](auto& fbb) { return wire::CreatePing(fbb, 7); });
  CHECK(reply.error_code() == errc::hello_required);
  CHECK(client.connection.closed);
}

TEST_CASE("session: Hello with version 0 is refused and closes", "[session]") {
  World world;
  Client client(world.service);
  Frame reply = client.hello(0);
  CHECK(reply.error_code() == errc::unsupported_version);
  CHECK(client.connection.closed);
}

TEST_CASE("session: HelloOk reports the node's limits; a newer client gets version 1",
          "[session]") {
  service::Options options = test_options();
  options.node_name = "node-a";
  options.max_body_bytes = 1234;
  World world(options);
  Client client(world.service);
  Frame reply = client.hello(7);
  REQUIRE(reply.type() == Body::HelloOk);
  const auto* ok = reply.envelope->body_as_HelloOk();
  CHECK(ok->protocol_version() == 1);
  CHECK(proto::view(ok->node()) == "node-a");
  CHECK(ok->max_body_bytes() == 1234);
  CHECK(ok->server_time_ms() == static_cast<std::uint64_t>(world.clock.wall_ms()));
  CHECK_FALSE(client.connection.closed);
}

TEST_CASE("session: a malformed frame gets Malformed and a close", "[session]") {
  World world;
  auto client = world.connect();
  std::vector<std::uint8_t> garbage(64, 0xab);
  client->feed(garbage);
  auto pushes = client->take_pushes();
  REQUIRE(pushes.size() == 1);
  CHECK(pushes[0].error_code() == errc::malformed);
  CHECK(client->connection.closed);
  // Nothing more is read after that.
  client->feed(garbage);
  CHECK(client->take_pushes().empty());
}

TEST_CASE(
    "session: Ping works before login; other requests need it; server messages are "
    "unexpected",
    "[session]") {
  World world;
  auto client = world.connect();
  Frame pong = client->request([](auto& fbb) { return wire::CreatePing(fbb, 42); });
  REQUIRE(pong.type() == Body::Pong);
  CHECK(pong.envelope->body_as_Pong()->nonce() == 42);

  CHECK(client->sync().error_code() == errc::not_authenticated);
  CHECK(client->send_to_user("bob", 1, "hi").error_code() == errc::not_authenticated);
  Frame unexpected = client->request([](auto& fbb) { return wire::CreatePong(fbb, 1, 2); });
  CHECK(unexpected.error_code() == errc::unexpected_message);
  CHECK(client->hello().error_code() == errc::unexpected_message);
  CHECK_FALSE(client->connection.closed);
}

TEST_CASE("session: register validates and refuses a taken name; it does not log in",
          "[session][auth]") {
  World world;
  auto client = world.connect();
  Frame bad_id = client->register_user("Alice!", "password1");
  CHECK(bad_id.error_code() == errc::invalid_argument);
  CHECK_THAT(bad_id.error_message(), Catch::Contains("user"));
  Frame short_password = client->register_user("alice", "short");
  CHECK(short_password.error_code() == errc::invalid_argument);
  CHECK_THAT(short_password.error_message(), Catch::Contains("password"));

  CHECK(client->register_user("alice", "password1").type() == Body::Ok);
  CHECK(client->register_user("alice", "password2").error_code() == errc::already_exists);
  CHECK(client->sync().error_code() == errc::not_authenticated);
}

TEST_CASE("session: password login issues a token that logs in again", "[session][auth]") {
  World world;
  auto first = world.connect();
  REQUIRE(first->register_user("alice", "password1").type() == Body::Ok);
  CHECK(first->login("alice", "wrong-password", "phone").error_code() == errc::auth_failed);
  CHECK(first->login("nobody", "password1", "phone").error_code() == errc::auth_failed);
  Frame ok = first->login("alice", "password1", "phone");
  REQUIRE(ok.type() == Body::LoginOk);
  const auto* login_ok = ok.envelope->body_as_LoginOk();
  std::string token(proto::view(login_ok->token()));
  CHECK(token.size() == auth::token_length);
  CHECK(proto::view(login_ok->user()) == "alice");
  CHECK(proto::view(login_ok->device()) == "phone");
  CHECK(first->login("alice", "password1", "phone").error_code() == errc::already_authenticated);
  CHECK(first->register_user("zed", "password1").error_code() == errc::already_authenticated);

  auto second = world.connect();
  Frame again = second->login_token("alice", token, "laptop");
  REQUIRE(again.type() == Body::LoginOk);
  CHECK(proto::view(again.envelope->body_as_LoginOk()->token()) == token);
  auto third = world.connect();
  std::string forged = token;
  forged[0] = forged[0] == 'A' ? 'B' : 'A';
  CHECK(third->login_token("alice", forged, "tablet").error_code() == errc::auth_failed);
}

TEST_CASE("session: failed logins are rate limited per user; time refills the budget",
          "[session][auth]") {
  World world;  // 10 failures per minute per user
  auto client = world.connect();
  REQUIRE(client->register_user("alice", "password1").type() == Body::Ok);
  for (int i = 0; i < 10; ++i) {
    CHECK(client->login("alice", "wrong-password", "phone").error_code() == errc::auth_failed);
  }
  Frame limited = client->login("alice", "password1", "phone");
  CHECK(limited.error_code() == errc::rate_limited);
  world.clock.advance_ms(6'001);  // one failure's worth of budget
  CHECK(client->login("alice", "password1", "phone").type() == Body::LoginOk);
}

TEST_CASE("session: failed logins are rate limited per address across users", "[session][auth]") {
  service::Options options = test_options();
  options.login_failures_per_minute_per_address = 3;
  World world(options);
  auto client = world.connect();
  REQUIRE(client->register_user("alice", "password1").type() == Body::Ok);
  for (const char* user : {"u1", "u2", "u3"}) {
    CHECK(client->login(user, "password1", "phone").error_code() == errc::auth_failed);
  }
  CHECK(client->login("alice", "password1", "phone").error_code() == errc::rate_limited);
  auto elsewhere = world.connect();
  elsewhere->connection.host = "198.51.100.7";
  CHECK(elsewhere->login("alice", "password1", "phone").type() == Body::LoginOk);
}

TEST_CASE("session: a disabled account cannot log in and is kicked", "[session][auth]") {
  World world;
  auto alice = world.login("alice");
  REQUIRE_FALSE(wait_for([&](service::Done done) {
    world.service.set_account_disabled("alice", true, std::move(done));
  }));
  auto pushes = alice->take_pushes();
  REQUIRE(pushes.size() == 1);
  CHECK(pushes[0].error_code() == errc::kicked);
  CHECK(alice->connection.closed);
  auto again = world.connect();
  CHECK(again->login("alice", world.password, "phone").error_code() == errc::account_disabled);
}

TEST_CASE("session: a newer login of the same device replaces the older session",
          "[session][auth]") {
  World world;
  auto old_phone = world.login("alice", "phone");
  auto laptop = world.login("alice", "laptop");
  auto new_phone = world.login("alice", "phone");
  auto pushes = old_phone->take_pushes();
  REQUIRE(pushes.size() == 1);
  CHECK(pushes[0].error_code() == errc::kicked);
  CHECK_THAT(pushes[0].error_message(), Catch::Contains("newer login"));
  CHECK(old_phone->connection.closed);
  CHECK_FALSE(laptop->connection.closed);
  CHECK(laptop->take_pushes().empty());
  CHECK(world.service.stats().users_online == 1);
  old_phone->close();  // its late on_close must not take alice offline
  CHECK(world.service.stats().users_online == 1);
}

TEST_CASE("session: logout revokes the token; all_devices kicks the other sessions",
          "[session][auth]") {
  World world;
  auto client = world.connect();
  REQUIRE(client->register_user("alice", world.password).type() == Body::Ok);
  Frame ok = client->login("alice", world.password, "phone");
  std::string token(proto::view(ok.envelope->body_as_LoginOk()->token()));
  Frame logout = client->request([](auto& fbb) { return wire::CreateLogout(fbb, false); });
  CHECK(logout.type() == Body::Ok);
  CHECK(client->connection.closed);
  auto retry = world.connect();
  CHECK(retry->login_token("alice", token, "phone").error_code() == errc::auth_failed);

  auto phone = world.login("alice", "phone");
  auto laptop = world.login("alice", "laptop");
  Frame all = phone->request([](auto& fbb) { return wire::CreateLogout(fbb, true); });
  CHECK(all.type() == Body::Ok);
  auto pushes = laptop->take_pushes();
  REQUIRE(pushes.size() == 1);
  CHECK(pushes[0].error_code() == errc::kicked);
  CHECK(laptop->connection.closed);
}

TEST_CASE("session: change password verifies the old one and keeps only this token",
          "[session][auth]") {
  World world;
  auto setup = world.connect();
  REQUIRE(setup->register_user("alice", world.password).type() == Body::Ok);
  Frame other = setup->login("alice", world.password, "laptop");
  std::string other_token(proto::view(other.envelope->body_as_LoginOk()->token()));
  auto phone = world.connect();
  Frame mine = phone->login("alice", world.password, "phone");
  std::string my_token(proto::view(mine.envelope->body_as_LoginOk()->token()));

  Frame wrong = phone->request([](auto& fbb) {
    return wire::CreateChangePasswordDirect(fbb, "not-it-at-all", "new password");
  });
  CHECK(wrong.error_code() == errc::auth_failed);
  Frame changed = phone->request([&](auto& fbb) {
    return wire::CreateChangePasswordDirect(fbb, world.password.c_str(), "new password");
  });
  CHECK(changed.type() == Body::Ok);
  // The other device's live session ends, saying why; this one goes on.
  auto pushes = setup->take_pushes();
  REQUIRE(pushes.size() == 1);
  CHECK(pushes[0].error_code() == errc::kicked);
  CHECK_THAT(pushes[0].error_message(), Catch::Contains("password was changed"));
  CHECK(setup->connection.closed);
  CHECK_FALSE(phone->connection.closed);

  CHECK(world.connect()->login("alice", world.password, "x").error_code() == errc::auth_failed);
  CHECK(world.connect()->login("alice", "new password", "x").type() == Body::LoginOk);
  CHECK(world.connect()->login_token("alice", other_token, "laptop").error_code() ==
        errc::auth_failed);
  CHECK(world.connect()->login_token("alice", my_token, "phone").type() == Body::LoginOk);
}

TEST_CASE("service: close_all_sessions pushes the error to every connection", "[session]") {
  World world;
  auto alice = world.login("alice");
  auto anonymous = world.connect();
  world.service.close_all_sessions(errc::shutting_down, "node stopping");
  for (Client* client : {alice.get(), anonymous.get()}) {
    auto pushes = client->take_pushes();
    REQUIRE(pushes.size() == 1);
    CHECK(pushes[0].error_code() == errc::shutting_down);
    CHECK(client->connection.closed);
  }
  CHECK(world.service.stats().sessions == 2);
  alice->close();
  anonymous->close();
  CHECK(world.service.stats().sessions == 0);
  CHECK(world.service.stats().users_online == 0);
}
