#pragma once
// Where the service learns which node is home for a key. The node's membership shell
// implements it; without one (a single node, unit tests) every key is local.
#include <memory>

#include "route/placement.h"

namespace qim::service {

class PlacementSource {
 public:
  virtual ~PlacementSource() = default;
  // The current placement; callers keep the pointer for one request so the request sees one
  // consistent view. Thread-safe; never null.
  virtual std::shared_ptr<const route::Placement> placement() const = 0;
};

}  // namespace qim::service
