// qimctl against a real qimd: the admin token, the tables and JSON, user administration seen
// by real client sessions, group inspection and leave.
#include <memory>
#include <regex>
#include <string>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "e2e_support.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

// qimctl with the node's admin port but the token chosen by the test.
CommandResult qimctl_without_token(const ServerProcess& server,
                                   const std::vector<std::string>& args) {
  std::vector<std::string> argv = {qimctl_path(), "--port-file", server.port_file(), "--timeout-ms",
                                   "5000"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

// Succeeds (exit 0) or fails the test with qimctl's output.
// The next DisconnectedEvent, or nullopt after the deadline.
std::optional<DisconnectedEvent> next_disconnect(Client& client) {
  auto event = client.wait_event(
      [](const Event& candidate) { return std::holds_alternative<DisconnectedEvent>(candidate); },
      event_timeout);
  if (!event) return std::nullopt;
  return std::get<DisconnectedEvent>(*event);
}

errc login_error(const ServerProcess& server, const std::string& user,
                 const std::string& password) {
  auto client = connected_client(server);
  auto info = client->login(user, password, "dev-check");
  return info.ok() ? errc::ok : info.error().code;
}

}  // namespace

TEST_CASE("qimctl is refused without the admin token or with a wrong one", "[qimctl]") {
  auto server = started_server();

  CommandResult none = qimctl_without_token(*server, {"members"});
  CHECK(none.exit_code == 3);
  CHECK(contains(none.err, "refused the admin connection: no admin token given"));
  CHECK(none.out.empty());

  CommandResult wrong =
      qimctl_without_token(*server, {"--token", "not-the-token-0123456789", "members"});
  CHECK(wrong.exit_code == 3);
  CHECK(contains(wrong.err, "refused the admin token"));
  CHECK(contains(wrong.err, "auth_failed"));

  TempDir directory;
  std::string token_file = directory.file("wrong.token");
  write_file(token_file, "another-token-abcdefghijklmnop\n");
  CommandResult wrong_file = qimctl_without_token(*server, {"--token-file", token_file, "stats"});
  CHECK(wrong_file.exit_code == 3);
  CHECK(contains(wrong_file.err, "refused the admin token"));

  // The right token, from the file the node created in its data directory.
  CommandResult right = qimctl_without_token(
      *server, {"--token-file", server->data_dir() + "/admin.token", "members"});
  CHECK(right.exit_code == 0);

  // Nothing listens on port 1: a clear failure, not a hang.
  CommandResult unreachable = run_command(
      {qimctl_path(), "--admin", "127.0.0.1:1", "--token", "0123456789abcdef", "members"});
  CHECK(unreachable.exit_code == 1);
  CHECK(contains(unreachable.err, "cannot connect to the admin endpoint 127.0.0.1:1"));

  CommandResult usage = run_command({qimctl_path(), "--data-dir", server->data_dir()});
  CHECK(usage.exit_code == 2);
  CommandResult bad_user = qimctl(*server, {"user", "create", "Not Valid", "--password", "x"});
  CHECK(bad_user.exit_code == 2);
  CHECK(contains(bad_user.err, "user: 'Not Valid'"));
}

TEST_CASE("qimctl members, stats and online print tables and JSON", "[qimctl]") {
  ServerOptions options;
  options.node_name = "ctl-1";
  auto server = started_server(options);
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");

  std::string members = qimctl_ok(*server, {"members"});
  CHECK(contains(members, "NAME"));
  CHECK(contains(members, "STATE"));
  CHECK(contains(members, "IN STATE"));
  CHECK(contains(members, "VNODES"));
  CHECK(contains(members, "ctl-1 (self)"));
  CHECK(contains(members, "127.0.0.1:" + std::to_string(server->gossip_port())));
  CHECK(contains(members, "127.0.0.1:" + std::to_string(server->port())));
  CHECK(contains(members, "alive"));
  CHECK(contains(members, "  128  "));  // qimd's default --vnodes
  CHECK(contains(members, "1 member, as seen by ctl-1"));

  std::string members_json = qimctl_ok(*server, {"--json", "members"});
  CHECK(contains(members_json, R"("node":"ctl-1")"));
  CHECK(contains(members_json, R"({"name":"ctl-1","gossip_address":"127.0.0.1:)" +
                                   std::to_string(server->gossip_port()) + "\""));
  CHECK(contains(members_json, R"("state":"alive")"));
  CHECK(contains(members_json, R"("self":true,"vnodes":128})"));

  std::string stats = qimctl_ok(*server, {"stats"});
  CHECK(contains(stats, "NODE"));
  CHECK(contains(stats, "IN/S"));
  CHECK(contains(stats, "PEER QUEUE"));
  CHECK(contains(stats, "ctl-1 (self)"));
  CHECK(contains(stats, "1 of 1 nodes answered (1 live), as asked of ctl-1"));
  std::string local = qimctl_ok(*server, {"stats", "--local"});
  CHECK(contains(local, "users online"));
  CHECK(contains(local, "messages in/s"));
  CHECK(contains(local, "gossip datagrams sent"));  // read on the control thread
  // The registrations' connections close asynchronously: poll until only alice's is left.
  std::string stats_json;
  CHECK(eventually(
      [&] {
        stats_json = qimctl_ok(*server, {"stats", "--json"});
        return contains(stats_json, R"("sessions":1,)");
      },
      std::chrono::seconds(10)));
  CHECK(contains(stats_json,
                 R"({"node":"ctl-1","nodes_live":1,"nodes_asked":1,"nodes_answered":1,"nodes":[)"
                 R"({"node":"ctl-1","self":true,"answered":true,"uptime_ms":)"));
  CHECK(contains(stats_json, R"("users_online":1,)"));
  CHECK(contains(stats_json, R"("messages_in_per_s":)"));
  CHECK(contains(stats_json, R"("peer_queued_frames":0,)"));
  CHECK(contains(stats_json, R"("gossip":{"datagrams_received":)"));
  CommandResult no_such_node = qimctl(*server, {"stats", "--node", "ctl-9"});
  CHECK(no_such_node.exit_code == 1);
  CHECK(contains(no_such_node.err, "ctl-9 is not a live member"));

  std::string online = qimctl_ok(*server, {"online"});
  CHECK(contains(online, "1 user online (1 of 1 live nodes answered)"));
  CHECK(contains(online, "  alice\n"));
  CHECK(contains(qimctl_ok(*server, {"online", "--local"}), "1 user online on node ctl-1\n"));
  CHECK(qimctl_ok(*server, {"--json", "online"}) ==
        "{\"count\":1,\"users\":[\"alice\"],\"more\":false,\"nodes_answered\":1,"
        "\"nodes_live\":1}\n");

  auto bob = logged_in_client(*server, "bob");
  CHECK(qimctl_ok(*server, {"--json", "online", "--limit", "1"}) ==
        "{\"count\":2,\"users\":[\"alice\"],\"more\":true,\"nodes_answered\":1,"
        "\"nodes_live\":1}\n");
  CHECK(contains(qimctl_ok(*server, {"online", "--limit", "1"}), "--after alice"));
  CHECK(qimctl_ok(*server, {"--json", "online", "--after", "alice"}) ==
        "{\"count\":2,\"users\":[\"bob\"],\"more\":false,\"nodes_answered\":1,"
        "\"nodes_live\":1}\n");
}

TEST_CASE("qimctl user create, disable, enable, kick and reset-password", "[qimctl]") {
  auto server = started_server();

  CHECK(qimctl_ok(*server, {"user", "create", "carol", "--password", test_password}) ==
        "created user carol\n");
  auto carol = logged_in_client(*server, "carol");
  CommandResult again = qimctl(*server, {"user", "create", "carol", "--password", test_password});
  CHECK(again.exit_code == 1);
  CHECK(contains(again.err, "already_exists"));
  CommandResult short_password = qimctl(*server, {"user", "create", "dave", "--password", "short"});
  CHECK(short_password.exit_code == 1);
  CHECK(contains(short_password.err, "password"));
  CommandResult missing = qimctl(*server, {"user", "disable", "nobody"});
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.err, "not_found"));

  // Disabling ends the logged-in session and refuses new logins; enabling lets them in again.
  CHECK(qimctl_ok(*server, {"--json", "user", "disable", "carol"}) ==
        "{\"ok\":true,\"action\":\"disable\",\"user\":\"carol\"}\n");
  auto disconnected = next_disconnect(*carol);
  REQUIRE(disconnected);
  CHECK(disconnected->code == errc::kicked);
  CHECK(login_error(*server, "carol", test_password) == errc::account_disabled);
  CHECK(qimctl_ok(*server, {"user", "enable", "carol"}) == "enabled user carol\n");
  carol = logged_in_client(*server, "carol");
  std::string token = carol->token();
  REQUIRE(!token.empty());

  // A kick ends every session and revokes the tokens; the password still works.
  CHECK(qimctl_ok(*server, {"user", "kick", "carol"}) == "ended every session of user carol\n");
  disconnected = next_disconnect(*carol);
  REQUIRE(disconnected);
  CHECK(disconnected->code == errc::kicked);
  {
    auto client = connected_client(*server);
    auto by_token = client->login_with_token("carol", token, "dev-1");
    CHECK_FALSE(by_token.ok());
  }
  carol = logged_in_client(*server, "carol");

  // A reset password replaces the old one and ends the sessions.
  CHECK(qimctl_ok(*server, {"user", "reset-password", "carol", "--password", "brand-new-pass-2"}) ==
        "reset the password of user carol\n");
  disconnected = next_disconnect(*carol);
  REQUIRE(disconnected);
  CHECK(login_error(*server, "carol", test_password) == errc::auth_failed);
  CHECK(login_error(*server, "carol", "brand-new-pass-2") == errc::ok);
}

TEST_CASE("qimctl group shows a group's owner, name and members with roles", "[qimctl]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto alice = logged_in_client(*server, "alice");
  auto created = alice->group_create("team", "The team", {"bob"});
  INFO((created.ok() ? std::string() : created.error().message));
  REQUIRE(created.ok());

  std::string table = qimctl_ok(*server, {"group", "team"});
  CHECK(contains(table, "group    team\n"));
  CHECK(contains(table, "name     The team\n"));
  CHECK(contains(table, "owner    alice\n"));
  CHECK(contains(table, "members  2\n"));
  CHECK(contains(table, "USER   ROLE    ONLINE  JOINED SEQ\n"));
  CHECK(contains(table, "alice  owner   yes     1\n"));
  CHECK(contains(table, "bob    member  no      1\n"));

  std::string json = qimctl_ok(*server, {"--json", "group", "team"});
  CHECK(contains(json, R"({"group":"team","name":"The team","owner":"alice","created_ms":)"));
  CHECK(contains(json, R"("members":[{"user":"alice","role":"owner","online":true,"joined_seq":1},)"
                       R"({"user":"bob","role":"member","online":false,"joined_seq":1}]})"));

  CommandResult missing = qimctl(*server, {"group", "nogroup"});
  CHECK(missing.exit_code == 1);
  CHECK(contains(missing.err, "not_found"));
}

TEST_CASE("qimctl user show, list, kick of one device and delete; group list and dissolve",
          "[qimctl]") {
  auto server = started_server();
  for (const char* user : {"alice", "bob", "carol"})
    register_user(*server, user);
  auto alice_phone = logged_in_client(*server, "alice", "phone");
  {
    auto bob = logged_in_client(*server, "bob");
    make_friends(*alice_phone, *bob);
  }
  auto alice_laptop = logged_in_client(*server, "alice", "laptop");
  REQUIRE(alice_phone->group_create("team", "The team", {"bob", "carol"}).ok());
  REQUIRE(alice_phone->group_create("solo", "Alone", {}).ok());

  std::string shown = qimctl_ok(*server, {"user", "show", "alice"});
  INFO(shown);
  CHECK(contains(shown, "user      alice\n"));
  CHECK(contains(shown, "disabled  no\n"));
  CHECK(contains(shown, "sessions  2\n"));
  CHECK(contains(shown, "friends   1\n"));
  CHECK(contains(shown, "groups    2 (solo, team)\n"));
  CHECK(contains(shown, "laptop"));
  CHECK(contains(shown, "phone"));
  std::string shown_json = qimctl_ok(*server, {"--json", "user", "show", "alice"});
  CHECK(contains(shown_json, R"("user":"alice","home_node":")"));
  CHECK(contains(shown_json, R"("sessions":2,"friends":1,"groups":["solo","team"],"devices":[)"));
  CommandResult nobody = qimctl(*server, {"--json", "user", "show", "nobody"});
  CHECK(nobody.exit_code == 1);
  CHECK(contains(nobody.out, R"({"ok":false,"node":"qim-e2e","error":{"code":"not_found")"));

  // Lists: sorted, paged with --after, filtered by --prefix.
  CHECK(qimctl_ok(*server, {"user", "list"}) == "3 users\n  alice\n  bob\n  carol\n");
  std::string page = qimctl_ok(*server, {"--json", "user", "list", "--limit", "2"});
  CHECK(contains(page, R"({"users":["alice","bob"],"more":true,"partitions_read":)"));
  std::smatch counts;
  REQUIRE(std::regex_search(page, counts,
                            std::regex(R"re("partitions_read":(\d+),"partition_count":(\d+))re")));
  CHECK(counts[1] == counts[2]);
  CHECK(qimctl_ok(*server, {"user", "list", "--after", "bob"}) == "1 user\n  carol\n");
  CHECK(qimctl_ok(*server, {"user", "list", "--prefix", "ca"}) == "1 user\n  carol\n");
  CHECK(qimctl_ok(*server, {"group", "list"}) == "2 groups\n  solo\n  team\n");
  CommandResult bad_prefix = qimctl(*server, {"--json", "group", "list", "--prefix", "No!"});
  CHECK(bad_prefix.exit_code == 2);
  CHECK(contains(bad_prefix.out, R"("code":"invalid_argument")"));

  // Kicking one device leaves the other logged in.
  CHECK(qimctl_ok(*server, {"user", "kick", "alice", "--device", "laptop"}) ==
        "ended the sessions of user alice on device laptop and revoked its token\n");
  auto disconnected = next_disconnect(*alice_laptop);
  REQUIRE(disconnected);
  CHECK(disconnected->code == errc::kicked);
  CHECK(eventually(
      [&] {
        return contains(qimctl_ok(*server, {"user", "show", "alice"}), "sessions  1\n");
      },
      std::chrono::seconds(5)));
  CommandResult no_device = qimctl(*server, {"user", "kick", "alice", "--device", "tablet"});
  CHECK(no_device.exit_code == 1);
  CHECK(contains(no_device.err, "not_found"));

  // Dissolving a group as its owner would.
  CHECK(qimctl_ok(*server, {"--json", "group", "dissolve", "solo"}) ==
        R"({"ok":true,"action":"dissolve","group":"solo"})" + std::string("\n"));
  CHECK(qimctl(*server, {"group", "show", "solo"}).exit_code == 1);

  // Deleting alice: her session ends, bob's friendship and the team (now bob's) lose her.
  CHECK(qimctl_ok(*server, {"user", "delete", "alice"}) == "deleted user alice\n");
  disconnected = next_disconnect(*alice_phone);
  REQUIRE(disconnected);
  CHECK(login_error(*server, "alice", test_password) == errc::auth_failed);
  std::string team = qimctl_ok(*server, {"group", "team"});
  CHECK(contains(team, "owner    bob\n"));
  CHECK(contains(team, "members  2\n"));
  CHECK_FALSE(contains(team, "alice"));
  auto bob = logged_in_client(*server, "bob");
  auto friends = bob->friends();
  REQUIRE(friends.ok());
  CHECK(friends.value().empty());
  CHECK(qimctl_ok(*server, {"user", "list"}) == "2 users\n  bob\n  carol\n");
  CommandResult gone = qimctl(*server, {"--json", "user", "delete", "alice"});
  CHECK(gone.exit_code == 1);
  CHECK(contains(gone.out, R"("code":"not_found")"));
  // The name can be registered again, with nothing of the old account.
  register_user(*server, "alice");
  CHECK(contains(qimctl_ok(*server, {"user", "show", "alice"}), "groups    0\n"));
}

TEST_CASE("qimctl leave stops a single node cleanly", "[qimctl]") {
  ServerOptions options;
  options.node_name = "solo";
  auto server = started_server(options);
  CHECK(qimctl_ok(*server, {"--json", "leave"}) ==
        "{\"ok\":true,\"action\":\"leave\",\"node\":\"solo\"}\n");
  CHECK(server->wait_exit(std::chrono::seconds(20)) == 0);
  CHECK(contains(server->log_text(), "an administrator asked this node to leave"));
}

}  // namespace qim::e2e
