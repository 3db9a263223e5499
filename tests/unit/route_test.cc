// Routing by partition leaders: partitions of keys, homes, login routes and session moves.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "route/login_route.h"
#include "route/moves.h"
#include "route/partitions.h"
#include "route/placement.h"

using namespace qim::route;

namespace {

NodeInfo node(int index) {
  return NodeInfo{"qim-" + std::to_string(index),
                  "127.0.0.1",
                  static_cast<std::uint16_t>(7000 + 10 * index),
                  "127.0.0.1:" + std::to_string(7003 + 10 * index),
                  true,
                  static_cast<std::uint64_t>(100 + index)};
}

std::vector<NodeInfo> nodes(int count) {
  std::vector<NodeInfo> result;
  for (int i = count; i >= 1; --i)
    result.push_back(node(i));  // unsorted on purpose: the placement sorts
  return result;
}

std::vector<std::string> users(int count) {
  std::vector<std::string> result;
  for (int i = 0; i < count; ++i)
    result.push_back("user" + std::to_string(i));
  return result;
}

const Partitions partitions(8, qim::cluster::HashKey{});

// `leaders[p]` names the leader of partition p by its index in `members` (-1: none).
Placement placement(const std::string& self, std::vector<NodeInfo> members,
                    std::vector<std::int32_t> leaders) {
  return Placement(self, std::move(members), partitions, std::move(leaders), 1);
}

}  // namespace

TEST_CASE("partitions: a key's partition is stable, in range, and spreads keys out", "[route]") {
  Partitions keyed(64, qim::cluster::HashKey{1, 2});
  std::map<PartitionId, int> counts;
  for (const std::string& user : users(6400)) {
    PartitionId p = keyed.of(user);
    REQUIRE(p < 64);
    CHECK(keyed.of(user) == p);
    ++counts[p];
  }
  CHECK(counts.size() == 64);
  for (auto [p, count] : counts)
    CHECK(count > 50);  // 100 expected per partition
  // Another cluster key places keys elsewhere.
  Partitions other(64, qim::cluster::HashKey{3, 4});
  int same = 0;
  for (const std::string& user : users(640))
    same += keyed.of(user) == other.of(user) ? 1 : 0;
  CHECK(same < 40);
}

TEST_CASE("placement: a key's home is its partition's leader, unknown while there is none",
          "[route]") {
  // nodes(3) is qim-3, qim-2, qim-1 as given: leaders by those indexes.
  Placement view = placement("qim-1", nodes(3), {0, 1, 2, 0, 1, 2, -1, -1});
  CHECK(view.members().front().name == "qim-1");  // sorted
  for (const std::string& user : users(200)) {
    PartitionId p = partitions.of(user);
    const NodeInfo& home = view.home_of(user);
    if (p >= 6) {
      CHECK(home.name.empty());
      CHECK_FALSE(home.up);
      CHECK(view.leader_of(p) == nullptr);
      CHECK_FALSE(view.is_local(user));
    } else {
      std::string expected = "qim-" + std::to_string(3 - static_cast<int>(p % 3));
      CHECK(home.name == expected);
      CHECK(view.is_local(user) == (expected == "qim-1"));
    }
  }
  CHECK(view.leaderships("qim-3") == 2);
  CHECK(view.leaderships("qim-9") == 0);
  CHECK(view.led_partitions() == 6);
  CHECK(view.find("qim-2") != nullptr);
  CHECK(view.find("qim-9") == nullptr);
}

TEST_CASE("route: logins are served at the home or sent there", "[route]") {
  Placement view = placement("qim-1", nodes(2), {0, 1, 0, 1, 0, 1, 0, 1});
  for (const std::string& user : users(100)) {
    SessionRoute route = route_session(view, user);
    const NodeInfo& home = view.home_of(user);
    CHECK(route.serve_here == (home.name == "qim-1"));
    if (!route.serve_here) {
      REQUIRE(route.home != nullptr);
      CHECK(route.home->name == home.name);
    }
  }
}

TEST_CASE("route: when leadership moves, only the users of moved partitions are redirected",
          "[route]") {
  Placement before = placement("qim-1", nodes(2), {1, 1, 1, 1, 0, 0, 0, 0});
  Placement after = placement("qim-1", nodes(2), {1, 1, 0, 1, 0, 0, 0, 0});
  std::vector<std::string> here;
  for (const std::string& user : users(300)) {
    if (before.is_local(user)) here.push_back(user);
  }
  auto moves = sessions_to_move(after, here);
  std::set<std::string> moved;
  for (const SessionMove& move : moves) {
    moved.insert(move.user);
    CHECK(partitions.of(move.user) == 2);
    CHECK(move.new_home->name == "qim-2");
  }
  for (const std::string& user : here) {
    CHECK(moved.contains(user) == (partitions.of(user) == 2));
  }
}
