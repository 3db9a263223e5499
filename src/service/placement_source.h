#pragma once
// Where the service learns which node is home for a key. The node's membership shell
// implements it; without one (a single node, unit tests) every key is local.
#include <memory>
#include <string_view>

#include "route/placement.h"

namespace qim::service {

class PlacementSource {
 public:
  virtual ~PlacementSource() = default;
  // The current placement; callers keep the pointer for one request so the request sees one
  // consistent view. Thread-safe; never null.
  virtual std::shared_ptr<const route::Placement> placement() const = 0;
  // Whether this node may serve `key` (a placement key: service/placement_keys.h) now: it is
  // the key's home and has received what the key's previous home held for it. A request for a
  // key that is local but not ready gets Error{Unavailable} (the client retries). Thread-safe.
  virtual bool ready(std::string_view key) const { return placement()->is_local(key); }
};

}  // namespace qim::service
