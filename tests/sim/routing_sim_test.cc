// Routing decisions over a simulated cluster: each node builds its placement from its own
// SWIM view, as qimd does, through joins, graceful leaves, crashes and restarts with 5% loss.
// Checked: once membership converges every node sends each user to the same live home in at
// most one redirect; while it churns, redirect loops are possible (views disagree) but never
// outlive convergence. Each test prints its seed.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "route/login_route.h"
#include "route/placement.h"
#include "swim_sim.h"

namespace qim::sim {
namespace {

constexpr std::size_t sampled_users = 2000;

// What node `index` routes by: its live members, as node/placement_tracker.cc builds it.
route::Placement placement_of(const Simulator& sim, std::size_t index) {
  std::vector<route::NodeInfo> nodes;
  sim.membership(index).for_each_member([&](const swim::Member& member) {
    if (swim::is_live(member.state)) nodes.push_back({member.name, "127.0.0.1", 1, ""});
  });
  return route::Placement(sim.name(index), std::move(nodes), {}, 0);
}

struct RoutingCheck {
  std::size_t disagreements = 0;  // users whose home differs between two up nodes
  std::size_t dead_homes = 0;     // users sent to a node that is down
  std::size_t loops = 0;          // users whose redirects never reach a node serving them
  std::size_t max_hops = 0;
};

RoutingCheck check_routing(const Simulator& sim) {
  std::vector<std::size_t> up;
  std::vector<route::Placement> views;
  for (std::size_t i = 0; i < sim.size(); ++i) {
    if (!sim.is_up(i)) continue;
    up.push_back(i);
    views.push_back(placement_of(sim, i));
  }
  auto view_of = [&](const std::string& name) -> const route::Placement* {
    for (std::size_t v = 0; v < up.size(); ++v)
      if (sim.name(up[v]) == name) return &views[v];
    return nullptr;
  };
  RoutingCheck result;
  for (std::size_t u = 0; u < sampled_users; ++u) {
    std::string user = "user" + std::to_string(u);
    const std::string& first = views.front().home_of(user).name;
    bool agree = true;
    for (std::size_t v = 0; v < views.size(); ++v) {
      agree = agree && views[v].home_of(user).name == first;
      // Follow redirects from this entry node, as a client does.
      const route::Placement* at = &views[v];
      std::size_t hops = 0;
      for (; hops <= views.size(); ++hops) {
        route::SessionRoute route = route::route_session(*at, user);
        if (route.serve_here) break;
        at = view_of(route.home->name);
        if (at == nullptr) break;  // sent to a down node: the client retries elsewhere
      }
      if (at == nullptr) {
        ++result.dead_homes;
      } else if (hops > views.size()) {
        ++result.loops;
      } else {
        result.max_hops = std::max(result.max_hops, hops);
      }
    }
    if (!agree) ++result.disagreements;
  }
  return result;
}

SimulatorConfig lossy() {
  SimulatorConfig config;
  config.network.loss = 0.05;
  return config;
}

}  // namespace

TEST_CASE("routing converges with membership through joins, leaves, crashes and restarts",
          "[sim][route]") {
  const std::uint64_t seed = 0x5EED'0004;
  INFO("seed " << seed);
  Simulator sim(lossy(), seed);
  sim.start_cluster(12);
  REQUIRE(sim.run_until_converged(300'000));

  auto converged_and_exact = [&](const char* stage) {
    INFO(stage);
    REQUIRE(sim.run_until_converged(300'000));
    RoutingCheck check = check_routing(sim);
    CHECK(check.disagreements == 0);
    CHECK(check.dead_homes == 0);
    CHECK(check.loops == 0);
    CHECK(check.max_hops <= 1);
  };
  converged_and_exact("start");

  // Churn: observe routing while membership moves, then require exactness once it settles.
  RoutingCheck worst;
  auto observe_churn = [&](std::int64_t duration_ms) {
    for (std::int64_t t = 0; t < duration_ms; t += 250) {
      sim.run_for(250);
      RoutingCheck check = check_routing(sim);
      worst.disagreements = std::max(worst.disagreements, check.disagreements);
      worst.loops = std::max(worst.loops, check.loops);
      worst.dead_homes = std::max(worst.dead_homes, check.dead_homes);
    }
  };

  std::size_t joined = sim.add_node(0);
  observe_churn(5'000);
  converged_and_exact("after a join");
  CHECK(sim.is_up(joined));

  sim.leave(3);
  observe_churn(5'000);
  sim.crash(3);  // it has gossiped its leave and exits
  converged_and_exact("after a graceful leave");

  sim.crash(5);
  observe_churn(20'000);
  converged_and_exact("after a crash");

  sim.restart(5);
  observe_churn(5'000);
  converged_and_exact("after a restart");

  WARN("worst during churn over " << sampled_users << " users x entry nodes: "
                                  << worst.disagreements << " users with disagreeing homes, "
                                  << worst.loops << " redirect loops, " << worst.dead_homes
                                  << " routes to a down node");
}

}  // namespace qim::sim
