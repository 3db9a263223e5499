// Routing with real processes: every user has one home node, logins and registrations made
// anywhere are redirected there, and when a node joins or leaves the sessions whose home moved
// are redirected to the new home and log in there by themselves.
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
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

constexpr int user_count = 24;

// Where a fresh login through `entry` lands for `user`.
std::string home_via(const ServerProcess& entry, const std::string& user) {
  auto client = connected_client(entry);
  auto login = client->login(user, test_password, "probe");
  INFO(user << ": " << (login ? "" : login.error().message));
  REQUIRE(login);
  return login->node;
}

// Drains `client`'s events until it has logged in again on `node`, or the deadline.
bool reconnected_to(Client& client, const std::string& node) {
  auto deadline = std::chrono::steady_clock::now() + convergence_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto event = client.next_event(std::chrono::milliseconds(200));
    if (!event) continue;
    if (const auto* reconnected = std::get_if<ReconnectedEvent>(&*event)) {
      if (reconnected->node == node) return true;
    }
  }
  return false;
}

}  // namespace

TEST_CASE("logins go to the user's home from any node, and follow it when nodes join and leave",
          "[routing]") {
  TempDir keys;
  std::string key_file = keys.file("cluster.key");
  CommandResult generated = run_command({qimd_path(), "--generate-cluster-key", key_file});
  REQUIRE(generated.exit_code == 0);

  auto r1 = start_node("r1", key_file, nullptr);
  auto r2 = start_node("r2", key_file, r1.get());
  auto r3 = start_node("r3", key_file, r1.get());
  std::vector<ServerProcess*> three = {r1.get(), r2.get(), r3.get()};
  REQUIRE(eventually([&] { return all_see(three, {"r1", "r2", "r3"}); }, convergence_timeout));

  // qimctl ring: three nodes, shares of the key space that add up to all of it.
  {
    CommandResult ring = qimctl(*r2, {"--json", "ring"});
    INFO(ring.out << ring.err);
    REQUIRE(ring.exit_code == 0);
    static const std::regex share_pattern(R"re("share":([0-9.]+))re");
    double total = 0;
    int nodes_listed = 0;
    for (std::sregex_iterator it(ring.out.begin(), ring.out.end(), share_pattern), end; it != end;
         ++it) {
      double share = std::stod((*it)[1]);
      CHECK(share > 0.15);  // 128 vnodes each: no node far from a third
      total += share;
      ++nodes_listed;
    }
    CHECK(nodes_listed == 3);
    CHECK(total == Approx(1.0).epsilon(0.001));
    CommandResult table = qimctl(*r2, {"ring"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Catch::Contains("r2 (self)") && Catch::Contains("3 nodes"));
  }

  // Registration through one node lands each account at its home.
  std::vector<std::string> users;
  for (int i = 0; i < user_count; ++i)
    users.push_back("route" + std::to_string(i));
  for (const std::string& user : users) {
    auto client = connected_client(*r1);
    auto registered = client->register_user(user, test_password);
    INFO(user << ": " << (registered ? "" : registered.error().message));
    REQUIRE(registered);
  }

  // Every node sends a user to the same home, and the homes are spread over the cluster.
  std::map<std::string, std::string> home;
  std::set<std::string> homes_used;
  for (const std::string& user : users) {
    home[user] = home_via(*r1, user);
    homes_used.insert(home[user]);
    CHECK(home_via(*r2, user) == home[user]);
    CHECK(home_via(*r3, user) == home[user]);
  }
  CHECK(homes_used.size() >= 2);

  // Long-lived sessions, logged in through r1.
  std::map<std::string, std::unique_ptr<Client>> sessions;
  for (const std::string& user : users) {
    auto client = connected_client(*r1, reconnecting_options());
    auto login = client->login(user, test_password, "laptop");
    REQUIRE(login);
    CHECK(login->node == home[user]);
    sessions[user] = std::move(client);
  }

  // Online users cover the whole cluster, whichever node is asked, and page across nodes.
  {
    auto& asker = *sessions[users.front()];
    auto everyone = asker.online_users("", 100);
    INFO((everyone ? std::string() : everyone.error().message));
    REQUIRE(everyone);
    CHECK(everyone->total == static_cast<std::uint64_t>(user_count));
    CHECK(everyone->users.size() == static_cast<std::size_t>(user_count));
    CHECK_FALSE(everyone->more);
    auto first = asker.online_users("", 10);
    INFO((first ? std::string() : first.error().message));
    REQUIRE(first);
    CHECK(first->users.size() == 10);
    CHECK(first->more);
    auto rest = asker.online_users(first->users.back(), 100);
    INFO((rest ? std::string() : rest.error().message));
    REQUIRE(rest);
    CHECK(rest->users.size() == static_cast<std::size_t>(user_count - 10));
  }

  // A fourth node joins: its users' records are handed over to it, then their sessions are
  // told to move, and log in there.
  auto r4 = start_node("r4", key_file, r1.get());
  std::vector<ServerProcess*> four = {r1.get(), r2.get(), r3.get(), r4.get()};
  REQUIRE(eventually([&] { return all_see(four, {"r1", "r2", "r3", "r4"}); }, convergence_timeout));
  std::vector<std::string> moved;
  for (const std::string& user : users) {
    std::string now_home = home_via(*r2, user);
    if (now_home != home[user]) {
      CHECK(now_home == "r4");  // a join only moves keys to the newcomer
      moved.push_back(user);
    }
  }
  INFO(moved.size() << " of " << user_count << " users moved to r4");
  CHECK(!moved.empty());
  for (const std::string& user : moved) {
    INFO(user);
    CHECK(reconnected_to(*sessions[user], "r4"));
  }

  // r4 leaves gracefully: it hands its users' records back and redirects their sessions.
  REQUIRE(r4->stop());
  REQUIRE(eventually([&] { return all_see(three, {"r1", "r2", "r3"}); }, convergence_timeout));
  for (const std::string& user : moved) {
    INFO(user);
    CHECK(reconnected_to(*sessions[user], home[user]));
    CHECK(home_via(*r3, user) == home[user]);
  }
}

}  // namespace qim::e2e
