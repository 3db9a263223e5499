#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "route/handoff.h"
#include "route/login_route.h"
#include "route/moves.h"
#include "route/placement.h"

using namespace qim::route;

namespace {

NodeInfo node(int index) {
  return NodeInfo{"qim-" + std::to_string(index), "127.0.0.1",
                  static_cast<std::uint16_t>(7000 + 10 * index),
                  "127.0.0.1:" + std::to_string(7003 + 10 * index)};
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

}  // namespace

TEST_CASE("route: a solo placement serves every key here", "[route]") {
  Placement placement = Placement::solo(node(1));
  for (const std::string& user : users(100)) {
    CHECK(placement.is_local(user));
    CHECK(route_session(placement, user).serve_here);
  }
  CHECK(placement.share_of("qim-1") == Approx(1.0));
  CHECK(sessions_to_move(placement, users(10)).empty());
}

TEST_CASE("route: every node of a cluster agrees on each user's home", "[route]") {
  std::vector<Placement> views;
  for (int self = 1; self <= 3; ++self)
    views.emplace_back("qim-" + std::to_string(self), nodes(3), qim::cluster::RingOptions{}, 1);
  std::map<std::string, int> served;
  for (const std::string& user : users(3000)) {
    int serving = 0;
    for (const Placement& view : views) {
      SessionRoute route = route_session(view, user);
      if (route.serve_here) {
        ++serving;
        ++served[view.self_name()];
      } else {
        // Everyone else redirects to the one node that serves it, with its client address.
        REQUIRE(route.home != nullptr);
        CHECK(route.home->name == view.home_of(user).name);
        CHECK(route.home->client_port == 7000 + 10 * (route.home->name.back() - '0'));
      }
    }
    CHECK(serving == 1);
  }
  // Each of three nodes serves a fair part of 3000 users.
  for (const auto& [name, count] : served)
    CHECK(count > 700);
}

TEST_CASE("route: a joining node takes sessions only to itself", "[route]") {
  qim::cluster::RingOptions options;
  Placement before("qim-1", nodes(3), options, 1);
  Placement after("qim-1", nodes(4), options, 2);
  std::vector<std::string> online;
  for (const std::string& user : users(5000)) {
    if (before.is_local(user)) online.push_back(user);
  }
  auto moves = sessions_to_move(after, online);
  REQUIRE_FALSE(moves.empty());
  for (const SessionMove& move : moves) {
    CHECK(move.new_home->name == "qim-4");
    CHECK_FALSE(after.is_local(move.user));
  }
  // Roughly a quarter of qim-1's users move to the newcomer.
  double moved = static_cast<double>(moves.size()) / static_cast<double>(online.size());
  CHECK(moved > 0.15);
  CHECK(moved < 0.35);
}

TEST_CASE("route: when a node leaves, its users go to the survivors and no one else moves",
          "[route]") {
  qim::cluster::RingOptions options;
  Placement before("qim-2", nodes(4), options, 1);
  std::vector<NodeInfo> survivors = nodes(4);
  std::erase_if(survivors, [](const NodeInfo& n) { return n.name == "qim-4"; });
  Placement after("qim-2", survivors, options, 2);
  for (const std::string& user : users(5000)) {
    if (before.home_of(user).name != "qim-4") {
      CHECK(after.home_of(user).name == before.home_of(user).name);
    }
  }
  // Sessions at qim-2 never move when another node leaves.
  std::vector<std::string> online;
  for (const std::string& user : users(5000)) {
    if (before.is_local(user)) online.push_back(user);
  }
  CHECK(sessions_to_move(after, online).empty());
}

TEST_CASE("route: placements compare by layout, not by version", "[route]") {
  qim::cluster::RingOptions options;
  Placement a("qim-1", nodes(3), options, 1);
  Placement b("qim-1", nodes(3), options, 7);
  CHECK(a.same_layout(b));
  std::vector<NodeInfo> moved = nodes(3);
  moved[0].client_port = 9999;  // a node restarted on another port
  CHECK_FALSE(a.same_layout(Placement("qim-1", moved, options, 8)));
  CHECK_FALSE(a.same_layout(Placement("qim-1", nodes(2), options, 9)));
  CHECK(a.find("qim-2") != nullptr);
  CHECK(a.find("qim-9") == nullptr);
  double total = 0;
  for (const NodeInfo& member : a.members())
    total += a.share_of(member.name);
  CHECK(total == Approx(1.0));
}

TEST_CASE("route: a draining node routes every session to the others", "[route]") {
  qim::cluster::RingOptions options;
  std::vector<NodeInfo> others = nodes(3);
  std::erase_if(others, [](const NodeInfo& n) { return n.name == "qim-1"; });
  Placement draining("qim-1", others, options, 2);
  Placement full("qim-2", nodes(3), options, 2);
  std::vector<std::string> online = users(1000);
  auto moves = sessions_to_move(draining, online);
  CHECK(moves.size() == online.size());
  for (const SessionMove& move : moves) {
    CHECK(move.new_home->name != "qim-1");
    // The others agree on where each drained user goes once they see qim-1 gone.
    Placement survivor(move.new_home->name, others, options, 3);
    CHECK(survivor.is_local(move.user));
  }
  CHECK(full.find("qim-1") != nullptr);
}

TEST_CASE("route: handoff sends exactly the keys that moved, each to its new home", "[route]") {
  qim::cluster::RingOptions options;
  Placement before("qim-2", nodes(3), options, 1);
  Placement after("qim-2", nodes(4), options, 2);
  std::vector<std::string> held;
  for (const std::string& user : users(4000)) {
    if (before.is_local(user)) held.push_back(user);
  }
  auto plan = plan_handoff(after, held);
  REQUIRE(plan.size() == 1);  // a join moves keys only to the newcomer
  REQUIRE(plan.count("qim-4") == 1);
  std::size_t moved = 0;
  for (const std::string& user : held) {
    bool stays = after.is_local(user);
    auto& to_new = plan["qim-4"];
    bool planned = std::find(to_new.begin(), to_new.end(), user) != to_new.end();
    CHECK(stays != planned);
    moved += planned ? 1 : 0;
  }
  CHECK(moved == plan["qim-4"].size());
  // Draining hands everything off, spread over the others.
  std::vector<NodeInfo> others = nodes(3);
  std::erase_if(others, [](const NodeInfo& n) { return n.name == "qim-2"; });
  auto drain = plan_handoff(Placement("qim-2", others, options, 3), held);
  std::size_t drained = 0;
  for (const auto& [node, keys] : drain) {
    CHECK(node != "qim-2");
    drained += keys.size();
  }
  CHECK(drained == held.size());
}
