#include "service/cluster_queries.h"

#include <algorithm>

namespace qim::service {

OnlinePage merge_online_pages(std::span<const OnlinePage> pages, std::uint32_t limit) {
  OnlinePage merged;
  for (const OnlinePage& page : pages) {
    merged.total += page.total;
    merged.more = merged.more || page.more;
    merged.users.insert(merged.users.end(), page.users.begin(), page.users.end());
  }
  std::sort(merged.users.begin(), merged.users.end());
  merged.users.erase(std::unique(merged.users.begin(), merged.users.end()), merged.users.end());
  if (merged.users.size() > limit) {
    merged.users.resize(limit);
    merged.more = true;
  }
  return merged;
}

}  // namespace qim::service
