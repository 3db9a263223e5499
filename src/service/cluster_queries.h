#pragma once
// Questions the service answers with the help of the other nodes. The node implements this
// over peer links; without one (a single node, unit tests) every answer is this node's own.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "service/types.h"

namespace qim::service {

class ClusterQueries {
 public:
  virtual ~ClusterQueries() = default;
  // The pages of online users after `after` (at most `limit` each) of every other live node.
  // Nodes that do not answer in time are left out. `done` is called exactly once, from any
  // thread. Thread-safe.
  virtual void online_elsewhere(std::string after, std::uint32_t limit,
                                std::function<void(std::vector<OnlinePage>)> done) = 0;
};

// One cluster-wide page from per-node pages: the first `limit` distinct users (a user moving
// between nodes may briefly be on two), `more` when any node has more, and the total summed.
OnlinePage merge_online_pages(std::span<const OnlinePage> pages, std::uint32_t limit);

}  // namespace qim::service
