// Routing with real processes: every user has one home node (the leader of its partition),
// logins and registrations made anywhere are redirected there, and when leadership moves (a node
// joins and takes its share of leaderships, or leaves) the sessions whose home moved are
// redirected to the new home and log in there by themselves.
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

  // qimctl ring: three nodes, each leading a share of the partitions, together all of them
  // (once the leaderships have spread from the node that created the cluster).
  auto shares = [&](ServerProcess& node) {
    CommandResult ring = qimctl(node, {"--json", "ring"});
    std::vector<double> result;
    if (ring.exit_code != 0) return result;
    static const std::regex share_pattern(R"re("share":([0-9.]+))re");
    for (std::sregex_iterator it(ring.out.begin(), ring.out.end(), share_pattern), end; it != end;
         ++it) {
      result.push_back(std::stod((*it)[1]));
    }
    return result;
  };
  REQUIRE(eventually(
      [&] {
        auto listed = shares(*r2);
        double total = 0;
        for (double share : listed)
          total += share;
        return listed.size() == 3 &&
               std::all_of(listed.begin(), listed.end(), [](double s) { return s > 0.15; }) &&
               total > 0.999;
      },
      convergence_timeout * 2, std::chrono::milliseconds(250)));
  {
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

  // A fourth node joins and takes its share of the leaderships; the sessions of users whose
  // partition it now leads are told to move, and log in there by themselves.
  auto r4 = start_node("r4", key_file, r1.get());
  std::vector<ServerProcess*> four = {r1.get(), r2.get(), r3.get(), r4.get()};
  REQUIRE(eventually([&] { return all_see(four, {"r1", "r2", "r3", "r4"}); }, convergence_timeout));
  REQUIRE(eventually(
      [&] {
        auto listed = shares(*r4);
        return listed.size() == 4 &&
               std::all_of(listed.begin(), listed.end(), [](double s) { return s > 0.1; });
      },
      convergence_timeout * 2, std::chrono::milliseconds(250)));
  // Every session ends up at its user's home as every node now routes it.
  auto settled = [&](const std::vector<ServerProcess*>& nodes) {
    return eventually(
        [&] {
          for (const std::string& user : users) {
            std::string now_home = home_via(*nodes.front(), user);
            for (ServerProcess* node : nodes) {
              if (home_via(*node, user) != now_home) return false;
            }
            if (sessions[user]->node() != now_home) return false;
          }
          return true;
        },
        convergence_timeout * 2, std::chrono::milliseconds(250));
  };
  CHECK(settled(four));
  std::size_t on_r4 = 0;
  for (const std::string& user : users)
    on_r4 += sessions[user]->node() == "r4" ? 1 : 0;
  INFO(on_r4 << " of " << user_count << " users are homed on r4");
  CHECK(on_r4 > 0);

  // r4 leaves gracefully: its leaderships and replicas move away first, its users' sessions are
  // redirected to their new homes.
  REQUIRE(r4->stop(std::chrono::seconds(60)));
  REQUIRE(eventually([&] { return all_see(three, {"r1", "r2", "r3"}); }, convergence_timeout));
  CHECK(settled(three));
  for (const std::string& user : users)
    CHECK(sessions[user]->node() != "r4");
}

}  // namespace qim::e2e
