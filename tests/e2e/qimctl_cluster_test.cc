// qimctl against a three-node cluster: whichever node it talks to, it sees the whole cluster
// (members with their vnodes, online users and counters of every node) and user and group
// operations are carried out at the key's home.
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

constexpr int user_count = 12;

// One node's row of `qimctl --json stats`, by the fields the tests read.
struct StatsRow {
  bool self = false;
  bool answered = false;
  std::uint64_t users_online = 0;
  std::uint64_t messages_stored = 0;
  double messages_in_per_s = 0;
  bool has_gossip = false;
};

// node -> row from qimctl's own compact JSON (each row starts with {"node":...).
std::map<std::string, StatsRow> stats_rows(const std::string& json) {
  static const std::regex row_start(
      R"re(\{"node":"([^"]+)","self":(true|false),"answered":(true|false))re");
  static const std::regex users(R"re("users_online":([0-9]+))re");
  static const std::regex stored(R"re("messages_stored":([0-9]+))re");
  static const std::regex in_rate(R"re("messages_in_per_s":([0-9.]+))re");
  std::map<std::string, StatsRow> rows;
  auto nodes = json.find(R"("nodes":[)");
  if (nodes == std::string::npos) return rows;
  std::string rest = json.substr(nodes);
  std::vector<std::pair<std::string, std::size_t>> starts;
  for (std::sregex_iterator it(rest.begin(), rest.end(), row_start), end; it != end; ++it) {
    starts.emplace_back((*it)[1], static_cast<std::size_t>(it->position()));
    StatsRow& row = rows[(*it)[1]];
    row.self = (*it)[2] == "true";
    row.answered = (*it)[3] == "true";
  }
  for (std::size_t i = 0; i < starts.size(); ++i) {
    std::size_t stop = i + 1 < starts.size() ? starts[i + 1].second : rest.size();
    std::string text = rest.substr(starts[i].second, stop - starts[i].second);
    StatsRow& row = rows[starts[i].first];
    std::smatch match;
    if (std::regex_search(text, match, users)) row.users_online = std::stoull(match[1]);
    if (std::regex_search(text, match, stored)) row.messages_stored = std::stoull(match[1]);
    if (std::regex_search(text, match, in_rate)) row.messages_in_per_s = std::stod(match[1]);
    row.has_gossip = contains(text, R"("gossip":{"datagrams_received":)");
  }
  return rows;
}

std::optional<DisconnectedEvent> next_disconnect(Client& client) {
  auto event = client.wait_event(
      [](const Event& candidate) { return std::holds_alternative<DisconnectedEvent>(candidate); },
      event_timeout);
  if (!event) return std::nullopt;
  return std::get<DisconnectedEvent>(*event);
}

}  // namespace

TEST_CASE("qimctl sees and administers the whole cluster through any node", "[qimctl][cluster]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  auto c1 = start_node("c1", key_file, nullptr);
  auto c2 = start_node("c2", key_file, c1.get());
  auto c3 = start_node("c3", key_file, c1.get());
  std::vector<ServerProcess*> nodes = {c1.get(), c2.get(), c3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"c1", "c2", "c3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*c2, 3));

  // members: every live member is on the ring with the node's --vnodes (the default, 128).
  {
    std::string json = qimctl_ok(*c2, {"--json", "members"});
    static const std::regex vnodes_pattern(R"re("name":"(c[123])"[^{}]*"vnodes":([0-9]+)\})re");
    std::map<std::string, std::string> vnodes;
    for (std::sregex_iterator it(json.begin(), json.end(), vnodes_pattern), end; it != end; ++it)
      vnodes[(*it)[1]] = (*it)[2];
    CHECK(vnodes ==
          std::map<std::string, std::string>{{"c1", "128"}, {"c2", "128"}, {"c3", "128"}});
    std::string table = qimctl_ok(*c2, {"members"});
    CHECK(contains(table, "VNODES"));
    CHECK(contains(table, "3 members, as seen by c2"));
  }

  // Users created through c1 land at their homes: those homed elsewhere are relayed there.
  std::vector<std::string> users;
  for (int i = 0; i < user_count; ++i) {
    users.push_back("ctl" + std::to_string(i));
    CHECK(qimctl_ok(*c1, {"user", "create", users.back(), "--password", test_password}) ==
          "created user " + users.back() + "\n");
  }
  // Logged in through c1, each session ends up at its user's home.
  std::map<std::string, std::unique_ptr<Client>> sessions;
  std::map<std::string, std::string> home;
  std::set<std::string> homes_used;
  for (const std::string& user : users) {
    sessions[user] = logged_in_client(*c1, user);
    home[user] = sessions[user]->node();
    homes_used.insert(home[user]);
  }
  INFO("homes used: " << homes_used.size());
  REQUIRE(homes_used.size() >= 2);
  std::string away;  // a user whose home is not c1: its creation above was relayed
  for (const std::string& user : users) {
    if (home[user] != "c1") away = user;
  }
  REQUIRE(!away.empty());
  // Relayed errors keep their code: the account exists at its home.
  {
    CommandResult again = qimctl(*c1, {"user", "create", away, "--password", test_password});
    CHECK(again.exit_code == 1);
    CHECK(contains(again.err, "already_exists"));
    CHECK(contains(again.err, "the home of user " + away));
  }

  // online: every node counts every session in the cluster, wherever it is.
  for (ServerProcess* node : nodes) {
    std::string json;
    bool all_counted = eventually(
        [&] {
          json = qimctl_ok(*node, {"--json", "online"});
          return contains(json, "{\"count\":" + std::to_string(user_count) + ",");
        },
        convergence_timeout);
    INFO(node->node_name() << ": " << json);
    CHECK(all_counted);
    CHECK(contains(json, R"("more":false,"nodes_answered":3,"nodes_live":3})"));
    for (const std::string& user : users)
      CHECK(contains(json, "\"" + user + "\""));
  }
  {
    std::string page = qimctl_ok(*c3, {"online", "--limit", "5"});
    CHECK(
        contains(page, std::to_string(user_count) + " users online (3 of 3 live nodes answered)"));
    CHECK(contains(page, "(more: run again with --after"));
    // --local: only c3's own sessions. A home can still move while leaderships settle (its
    // sessions follow the Redirect), so the count is compared with where the sessions are now.
    std::string local;
    std::size_t on_c3 = 0;
    bool local_matches = eventually(
        [&] {
          on_c3 = 0;
          for (const std::string& user : users)
            on_c3 += sessions[user]->node() == "c3" ? 1 : 0;
          local = qimctl_ok(*c3, {"online", "--local"});
          return contains(local, std::to_string(on_c3) + (on_c3 == 1 ? " user" : " users") +
                                     " online on node c3\n");
        },
        convergence_timeout);
    std::string where;
    for (const std::string& user : users)
      where += user + "@" + sessions[user]->node() + " ";
    INFO(local << "sessions on c3: " << on_c3 << "; clients: " << where);
    CHECK(local_matches);
  }

  // A few messages, so the counters and rates move.
  {
    const std::string& from = users[0];
    const std::string& to = users[1];
    for (int i = 0; i < 5; ++i) {
      auto sent = sessions[from]->send_to_user(to, "hello " + std::to_string(i));
      INFO((sent ? std::string() : sent.error().message));
      REQUIRE(sent);
    }
  }

  // stats: a row for every live node, from any node.
  for (ServerProcess* node : nodes) {
    std::string json = qimctl_ok(*node, {"--json", "stats"});
    INFO(node->node_name() << ": " << json);
    CHECK(contains(json, "{\"node\":\"" + node->node_name() +
                             R"(","nodes_live":3,"nodes_asked":3,"nodes_answered":3,)"));
    auto rows = stats_rows(json);
    REQUIRE(rows.size() == 3);
    std::uint64_t online = 0, stored = 0;
    double in_rate = 0;
    for (const auto& [name, row] : rows) {
      CHECK(row.answered);
      CHECK(row.self == (name == node->node_name()));
      CHECK(row.has_gossip);
      online += row.users_online;
      stored += row.messages_stored;
      in_rate += row.messages_in_per_s;
    }
    CHECK(online == static_cast<std::uint64_t>(user_count));
    CHECK(stored >= 5);
    CHECK(in_rate > 0);
  }
  {
    std::string table = qimctl_ok(*c1, {"stats"});
    CHECK(contains(table, "c1 (self)"));
    CHECK(contains(table, "\nc2  "));
    CHECK(contains(table, "\nc3  "));
    CHECK(contains(table, "3 of 3 nodes answered (3 live), as asked of c1"));
    std::string one = qimctl_ok(*c1, {"stats", "--node", "c3"});
    CHECK(contains(one, "node                          c3\n"));
    CHECK(contains(one, "peer links connected"));
  }

  // kick, disable and enable through a node that is not the user's home.
  {
    ServerProcess* not_home = home[away] == "c2" ? c3.get() : c2.get();
    CHECK(qimctl_ok(*not_home, {"user", "kick", away}) ==
          "ended every session of user " + away + "\n");
    auto disconnected = next_disconnect(*sessions[away]);
    REQUIRE(disconnected);
    CHECK(disconnected->code == errc::kicked);
    CHECK(qimctl_ok(*not_home, {"user", "disable", away}) == "disabled user " + away + "\n");
    {
      auto client = connected_client(*not_home);
      auto login = client->login(away, test_password, "dev-2");
      REQUIRE_FALSE(login.ok());
      CHECK(login.error().code == errc::account_disabled);
    }
    CHECK(qimctl_ok(*not_home, {"user", "enable", away}) == "enabled user " + away + "\n");
    CHECK(qimctl_ok(*not_home, {"user", "reset-password", away, "--password", "another-pass-9"}) ==
          "reset the password of user " + away + "\n");
    auto client = connected_client(*not_home);
    auto login = client->login(away, "another-pass-9", "dev-2");
    INFO((login ? std::string() : login.error().message));
    CHECK(login.ok());
    CommandResult missing = qimctl(*not_home, {"user", "disable", "nobody-here"});
    CHECK(missing.exit_code == 1);
    CHECK(contains(missing.err, "not_found"));
  }

  // group: the same answer from every node, two of which relay to the group's home.
  {
    auto created = sessions[users[0]]->group_create("crew", "The crew", {users[1], users[2]});
    INFO((created ? std::string() : created.error().message));
    REQUIRE(created);
    std::string first;
    for (ServerProcess* node : nodes) {
      std::string json = qimctl_ok(*node, {"--json", "group", "crew"});
      CHECK(contains(json, R"({"group":"crew","name":"The crew","owner":")" + users[0] + "\""));
      CHECK(contains(json, "{\"user\":\"" + users[1] + "\",\"role\":\"member\",\"online\":true"));
      if (first.empty()) first = json;
      CHECK(json == first);
      CommandResult missing = qimctl(*node, {"group", "nogroup"});
      CHECK(missing.exit_code == 1);
      CHECK(contains(missing.err, "not_found"));
    }
  }

  // The token is still required on every node.
  for (ServerProcess* node : nodes) {
    CommandResult none = run_command(
        {qimctl_path(), "--port-file", node->port_file(), "--timeout-ms", "5000", "stats"});
    CHECK(none.exit_code == 3);
    CHECK(none.out.empty());
  }
}

}  // namespace qim::e2e

namespace qim::e2e {
namespace {

std::uint64_t json_number(const std::string& json, const std::string& field) {
  std::smatch match;
  std::regex pattern("\"" + field + "\":([0-9]+)");
  if (!std::regex_search(json, match, pattern)) return ~0ull;
  return std::stoull(match[1]);
}

}  // namespace

TEST_CASE("qimctl partitions, where and replication stats; one admin token for every node",
          "[qimctl][cluster][partitions]") {
  TempDir keys;
  std::string key_file = generated_cluster_key(keys.file("cluster.key"));
  auto c1 = start_node("c1", key_file, nullptr);
  auto c2 = start_node("c2", key_file, c1.get());
  auto c3 = start_node("c3", key_file, c1.get());
  std::vector<ServerProcess*> nodes = {c1.get(), c2.get(), c3.get()};
  REQUIRE(eventually([&] { return all_see(nodes, {"c1", "c2", "c3"}); }, convergence_timeout));
  REQUIRE(wait_replicated(*nodes.front(), 3));

  // One credential: c1's token file and the cluster key both open c2 and c3.
  CHECK(read_file(c1->data_dir() + "/admin.token") == read_file(c3->data_dir() + "/admin.token"));
  for (ServerProcess* node : {c2.get(), c3.get()}) {
    CommandResult with_c1_token = run_command({qimctl_path(), "--port-file", node->port_file(),
                                               "--data-dir", c1->data_dir(), "--json", "members"});
    CHECK(with_c1_token.exit_code == 0);
    CommandResult with_key = run_command({qimctl_path(), "--port-file", node->port_file(),
                                          "--cluster-key-file", key_file, "--json", "ring"});
    CHECK(with_key.exit_code == 0);
    CHECK(contains(with_key.out, "{\"node\":\"" + node->node_name() + "\""));
  }

  // Every partition gets three voters and a leader; the summary adds up.
  std::string json;
  bool replicated = eventually(
      [&] {
        CommandResult result = qimctl(*c2, {"--json", "partitions"});
        json = result.out;
        return result.exit_code == 0 && json_number(json, "under_replicated") == 0 &&
               json_number(json, "leaderless") == 0;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(500));
  INFO(json);
  REQUIRE(replicated);
  CHECK(json_number(json, "partition_count") == 64);
  CHECK(json_number(json, "nodes_answered") == 3);
  {
    std::uint64_t leaders = 0;
    static const std::regex share(R"re(\{"node":"c[123]","replicas":64,"leaders":([0-9]+))re");
    int rows = 0;
    for (std::sregex_iterator it(json.begin(), json.end(), share), end; it != end; ++it) {
      leaders += std::stoull((*it)[1]);
      ++rows;
    }
    CHECK(rows == 3);
    CHECK(leaders == 64);
  }
  std::string table = qimctl_ok(*c3, {"partitions"});
  CHECK(contains(table, "PARTITION  LEADER"));
  CHECK(contains(table, "c1,c2,c3"));
  CHECK(contains(table, "64 partitions, 3 replicas wanted"));
  CHECK(contains(table, "0 under-replicated, 0 without a leader (3 of 3 nodes answered"));

  // where: the same partition and leader from every node, for every kind of key.
  std::string where_json = qimctl_ok(*c1, {"--json", "where", "alice"});
  CHECK(contains(where_json, R"("placement_key":"alice","kind":"user")"));
  std::uint64_t partition = json_number(where_json, "partition");
  CHECK(partition < 64);
  for (ServerProcess* node : nodes) {
    CHECK(json_number(qimctl_ok(*node, {"--json", "where", "alice"}), "partition") == partition);
  }
  CHECK(contains(qimctl_ok(*c2, {"--json", "where", "d:zed:amy"}),
                 R"("placement_key":"d:amy:zed","kind":"direct")"));
  CHECK(contains(qimctl_ok(*c2, {"where", "group", "crew"}), "g:crew (group)"));
  CommandResult bad = qimctl(*c2, {"--json", "where", "Not A Key"});
  CHECK(bad.exit_code == 1);
  CHECK(contains(bad.out, R"({"ok":false,"node":"c2","error":{"code":"invalid_argument")"));

  // stats: every node hosts every partition's replica.
  std::string stats = qimctl_ok(*c1, {"--json", "stats"});
  static const std::regex hosted(R"re("replication":\{"replicas_hosted":64,)re");
  CHECK(std::distance(std::sregex_iterator(stats.begin(), stats.end(), hosted),
                      std::sregex_iterator()) == 3);

  // A node down: its partitions are under-replicated, and say who is down.
  c3->kill();
  std::string after;
  bool reported = eventually(
      [&] {
        after = qimctl(*c1, {"--json", "partitions", "--under-replicated"}).out;
        return json_number(after, "under_replicated") == 64 && contains(after, R"("down":["c3"])");
      },
      std::chrono::seconds(30), std::chrono::milliseconds(250));
  INFO(after);
  CHECK(reported);
}

}  // namespace qim::e2e
