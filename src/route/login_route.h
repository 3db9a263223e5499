#pragma once
// Where a client session for a user belongs. Sessions live at the user's home, so that the
// user's records, presence and pushes are local to the node holding the connection; any other
// node answers Redirect (the route role of DESIGN §7).
#include <string_view>

#include "route/placement.h"

namespace qim::route {

struct SessionRoute {
  bool serve_here = false;
  // The user's home when !serve_here: where the client is sent.
  const NodeInfo* home = nullptr;
};

// For Login and Register. The returned pointer lives as long as `placement`.
SessionRoute route_session(const Placement& placement, std::string_view user);

}  // namespace qim::route
