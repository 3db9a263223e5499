#include "route/handoff.h"

namespace qim::route {

std::map<std::string, std::vector<std::string>> plan_handoff(
    const Placement& placement, std::span<const std::string> held_keys) {
  std::map<std::string, std::vector<std::string>> plan;
  for (const std::string& key : held_keys) {
    const NodeInfo& home = placement.home_of(key);
    if (home.name != placement.self_name()) plan[home.name].push_back(key);
  }
  return plan;
}

}  // namespace qim::route
