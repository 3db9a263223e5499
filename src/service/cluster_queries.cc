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

NamePage merge_name_pages(std::span<const NamePage> pages, std::uint32_t limit, bool& more) {
  NamePage merged;
  more = false;
  for (const NamePage& page : pages) {
    // A full page may have been cut short at its node.
    more = more || page.names.size() >= limit;
    merged.names.insert(merged.names.end(), page.names.begin(), page.names.end());
    merged.partitions.insert(merged.partitions.end(), page.partitions.begin(),
                             page.partitions.end());
  }
  std::sort(merged.names.begin(), merged.names.end());
  merged.names.erase(std::unique(merged.names.begin(), merged.names.end()), merged.names.end());
  std::sort(merged.partitions.begin(), merged.partitions.end());
  merged.partitions.erase(std::unique(merged.partitions.begin(), merged.partitions.end()),
                          merged.partitions.end());
  if (merged.names.size() > limit) {
    merged.names.resize(limit);
    more = true;
  }
  return merged;
}

}  // namespace qim::service
