#pragma once
// Handoff decisions: which of the keys a node holds now belong to another node, and where they
// go. The node moves them (node/rebalancer.h) before it redirects the sessions that follow
// them, so a redirected client finds its records at the new home.
#include <map>
#include <span>
#include <string>
#include <vector>

#include "route/placement.h"

namespace qim::route {

// Of `held_keys` (user ids or conversation ids stored here), those whose home under
// `placement` is another node, grouped by that node's name. Keys keep their input order.
std::map<std::string, std::vector<std::string>> plan_handoff(
    const Placement& placement, std::span<const std::string> held_keys);

}  // namespace qim::route
