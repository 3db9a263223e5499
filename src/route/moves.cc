#include "route/moves.h"

namespace qim::route {

std::vector<SessionMove> sessions_to_move(const Placement& placement,
                                          std::span<const std::string> online_users) {
  std::vector<SessionMove> moves;
  for (const std::string& user : online_users) {
    const NodeInfo& home = placement.home_of(user);
    if (home.name == placement.self_name()) continue;
    moves.push_back({user, &home});
  }
  return moves;
}

}  // namespace qim::route
