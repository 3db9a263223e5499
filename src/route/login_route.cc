#include "route/login_route.h"

namespace qim::route {

SessionRoute route_session(const Placement& placement, std::string_view user) {
  const NodeInfo& home = placement.home_of(user);
  if (home.name == placement.self_name()) return {true, nullptr};
  return {false, &home};
}

}  // namespace qim::route
