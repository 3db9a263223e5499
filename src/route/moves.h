#pragma once
// What a placement change means for this node's sessions: the users whose home moved away
// must be told to reconnect (Redirect), so their next login lands on the new home.
#include <span>
#include <string>
#include <vector>

#include "route/placement.h"

namespace qim::route {

struct SessionMove {
  std::string user;
  const NodeInfo* new_home;  // lives as long as the placement it came from
};

// Of `online_users` (users with a session here), those whose home under `placement` is another
// node, with where they now belong.
std::vector<SessionMove> sessions_to_move(const Placement& placement,
                                          std::span<const std::string> online_users);

}  // namespace qim::route
