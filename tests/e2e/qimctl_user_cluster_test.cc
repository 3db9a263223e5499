// qimctl user list, show and delete on a three-node cluster, issued through a node that leads
// none of the partitions involved: the deleted user's records go from every partition that held
// them (their account, friendships, group memberships; an owned group passes on), whichever node
// leads it, and nothing of anyone else's goes with them.
#include <algorithm>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "cluster_support.h"
#include "e2e_support.h"
#include "qim/ids.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

struct NamePage {
  std::vector<std::string> names;
  bool more = false;
};

// One page of `qimctl --json user list ...`.
NamePage user_page(const ServerProcess& node, const std::vector<std::string>& paging) {
  std::vector<std::string> args = {"--json", "user", "list"};
  args.insert(args.end(), paging.begin(), paging.end());
  std::string json = qimctl_ok(node, args);
  static const std::regex page(R"re(^\{"users":\[([^\]]*)\],"more":(true|false),)re");
  static const std::regex name(R"re("([^"]+)")re");
  std::smatch match;
  INFO(json);
  REQUIRE(std::regex_search(json, match, page));
  NamePage result;
  result.more = match[2] == "true";
  std::string names = match[1];
  for (std::sregex_iterator it(names.begin(), names.end(), name), end; it != end; ++it)
    result.names.push_back((*it)[1]);
  return result;
}

// Every user with `prefix`, paged through with --limit/--after.
std::vector<std::string> all_users(const ServerProcess& node, const std::string& prefix,
                                   std::size_t limit) {
  std::vector<std::string> users;
  for (int pages = 0; pages < 100; ++pages) {
    std::vector<std::string> paging = {"--prefix", prefix, "--limit", std::to_string(limit)};
    if (!users.empty()) {
      paging.push_back("--after");
      paging.push_back(users.back());
    }
    NamePage page = user_page(node, paging);
    CHECK(page.names.size() <= limit);
    users.insert(users.end(), page.names.begin(), page.names.end());
    if (!page.more) break;
  }
  return users;
}

errc login_error(const ServerProcess& server, const std::string& user) {
  auto client = connected_client(server);
  auto info = client->login(user, test_password, "dev-check");
  return info.ok() ? errc::ok : info.error().code;
}

bool lists_friend(Client& client, const std::string& user) {
  auto friends = client.friends();
  INFO((friends ? std::string() : friends.error().message));
  REQUIRE(friends);
  return std::any_of(friends->begin(), friends->end(),
                     [&](const Friend& entry) { return entry.user == user; });
}

}  // namespace

TEST_CASE("qimctl user list, show and delete across partitions led by other nodes",
          "[qimctl][cluster][users]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  auto c1 = start_node("c1", key_file, nullptr);
  auto c2 = start_node("c2", key_file, c1.get());
  auto c3 = start_node("c3", key_file, c1.get());
  std::vector<ServerProcess*> nodes = {c1.get(), c2.get(), c3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"c1", "c2", "c3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*c1, 3));

  // Users created through c3, with homes wherever their partitions are led; a few with another
  // prefix, which --prefix leaves out.
  constexpr int user_count = 24;
  std::vector<std::string> users;
  std::map<std::string, std::vector<std::string>> by_leader;
  for (int i = 0; i < user_count; ++i) {
    std::string user = "du" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    CHECK(qimctl_ok(*c3, {"user", "create", user, "--password", test_password}) ==
          "created user " + user + "\n");
    users.push_back(user);
    by_leader[partition_leader(*c3, {user})].push_back(user);
  }
  for (const char* other : {"dv0", "dv1", "e0"})
    qimctl_ok(*c3, {"user", "create", other, "--password", test_password});
  // The roles: the victim and a member homed at c1, a friend homed at c2, all asked through
  // c3; bystanders somewhere.
  INFO("users led by c1: " << by_leader["c1"].size() << ", c2: " << by_leader["c2"].size()
                           << ", c3: " << by_leader["c3"].size());
  REQUIRE(by_leader["c1"].size() >= 2);
  REQUIRE(by_leader["c2"].size() >= 2);
  REQUIRE(!by_leader["c3"].empty());
  const std::string victim = by_leader["c1"][0];
  const std::string member = by_leader["c1"][1];
  const std::string pal = by_leader["c2"][0];
  const std::string bystander = by_leader["c2"][1];
  const std::string on_c3 = by_leader["c3"][0];
  // A group whose partition c3 does not lead either.
  std::string group;
  for (int i = 0; i < 40 && group.empty(); ++i) {
    std::string candidate = "dg" + std::to_string(i);
    std::string leader = partition_leader(*c3, {"group", candidate});
    if (leader == "c1" || leader == "c2") group = candidate;
  }
  REQUIRE(!group.empty());

  // Sessions (logged in through c3, each redirected home), friendships, the group, messages.
  auto victim_client = logged_in_client(*c3, victim);
  auto member_client = logged_in_client(*c3, member);
  auto pal_client = logged_in_client(*c3, pal);
  auto bystander_client = logged_in_client(*c3, bystander);
  CHECK(victim_client->node() == "c1");
  CHECK(pal_client->node() == "c2");
  make_friends(*victim_client, *pal_client);
  make_friends(*bystander_client, *pal_client);
  {
    auto created = victim_client->group_create(group, "Doomed owner", {pal, member});
    INFO((created ? std::string() : created.error().message));
    REQUIRE(created);
  }
  REQUIRE(victim_client->send_to_user(pal, "from the victim"));
  REQUIRE(bystander_client->send_to_user(pal, "from the bystander"));
  REQUIRE(pal_client->send_to_group(group, "to the group"));

  // user list: the same sorted users from every node, whole or paged, --prefix filtering.
  std::vector<std::string> sorted = users;
  std::sort(sorted.begin(), sorted.end());
  for (ServerProcess* node : nodes) {
    INFO("asked " << node->node_name());
    CHECK(user_page(*node, {"--prefix", "du"}).names == sorted);
    CHECK(all_users(*node, "du", 5) == sorted);
    CHECK(user_page(*node, {"--prefix", "dv"}).names == std::vector<std::string>{"dv0", "dv1"});
    NamePage after = user_page(*node, {"--prefix", "du", "--after", "du20", "--limit", "2"});
    CHECK(after.names == std::vector<std::string>{"du21", "du22"});
    CHECK(after.more);
  }
  CHECK(contains(qimctl_ok(*c2, {"user", "list", "--prefix", "du", "--limit", "3"}),
                 "3 users\n  du00\n  du01\n  du02\n(more: run again with --after du02)\n"));

  // user show: the victim as every node sees them.
  for (ServerProcess* node : nodes) {
    std::string json = qimctl_ok(*node, {"--json", "user", "show", victim});
    INFO(node->node_name() << ": " << json);
    CHECK(contains(json, R"({"user":")" + victim + R"(","home_node":"c1",)"));
    CHECK(contains(json, R"("disabled":false,"sessions":1,"friends":1,"groups":[")" + group +
                             R"("],"devices":[)"));
  }

  // Deleted through c3, which leads none of the partitions involved.
  CHECK(qimctl_ok(*c3, {"user", "delete", victim}) == "deleted user " + victim + "\n");
  {
    auto ended = victim_client->wait_event(
        [](const Event& event) { return std::holds_alternative<DisconnectedEvent>(event); },
        event_timeout);
    CHECK(ended.has_value());
  }
  for (ServerProcess* node : nodes) {
    INFO("asked " << node->node_name());
    CHECK(login_error(*node, victim) == errc::auth_failed);
    std::vector<std::string> left = sorted;
    left.erase(std::find(left.begin(), left.end(), victim));
    CHECK(all_users(*node, "du", 7) == left);
    CommandResult shown = qimctl(*node, {"--json", "user", "show", victim});
    CHECK(shown.exit_code == 1);
    CHECK(contains(shown.out, R"("error":{"code":"not_found")"));
    // The group passed on: its owner is one of the two members left, from every node.
    std::string shown_group = qimctl_ok(*node, {"--json", "group", "show", group});
    CHECK_FALSE(contains(shown_group, "\"" + victim + "\""));
    CHECK((contains(shown_group, R"("owner":")" + pal + "\"") ||
           contains(shown_group, R"("owner":")" + member + "\"")));
  }
  // A direct message to them is refused, from a user homed on each node.
  auto c3_client = logged_in_client(*c3, on_c3);
  CHECK(c3_client->node() == "c3");
  for (Client* client : {member_client.get(), pal_client.get(), c3_client.get()}) {
    auto sent = client->send_to_user(victim, "are you there?");
    INFO("from a client at " << client->node());
    REQUIRE_FALSE(sent.ok());
    CHECK(sent.error().code == errc::not_found);
  }
  // Their friend no longer lists them; the bystander's friendship, the group and the messages
  // of the others stay.
  CHECK_FALSE(lists_friend(*pal_client, victim));
  CHECK(lists_friend(*pal_client, bystander));
  CHECK(lists_friend(*bystander_client, pal));
  {
    auto members = pal_client->group_members(group);
    INFO((members ? std::string() : members.error().message));
    REQUIRE(members);
    std::set<std::string> names;
    for (const GroupMember& entry : members->members)
      names.insert(entry.user);
    CHECK(names == std::set<std::string>{pal, member});
    CHECK((members->info.owner == pal || members->info.owner == member));
  }
  {
    auto history = pal_client->history(group_conversation(group));
    INFO((history ? std::string() : history.error().message));
    REQUIRE(history);
    REQUIRE(!history->messages.empty());
    CHECK(history->messages.back().body == "to the group");
    auto direct = bystander_client->history(direct_conversation(bystander, pal));
    INFO((direct ? std::string() : direct.error().message));
    REQUIRE(direct);
    REQUIRE(direct->messages.size() == 1);
    CHECK(direct->messages[0].body == "from the bystander");
  }
  std::string pal_shown = qimctl_ok(*c1, {"--json", "user", "show", pal});
  CHECK(contains(pal_shown, R"("friends":1,"groups":[")" + group + "\"]"));
  // Deleting again: not found, from every node.
  for (ServerProcess* node : nodes) {
    CommandResult again = qimctl(*node, {"user", "delete", victim});
    CHECK(again.exit_code == 1);
    CHECK(contains(again.err, "not_found"));
  }
}

}  // namespace qim::e2e
