#include "node/known_peers.h"

#include <algorithm>

namespace qim::node {
namespace {

constexpr std::string_view key = "known_peers";

}  // namespace

void KnownPeers::load() {
  addresses_.clear();
  std::string text;
  Error error = kv_.get(store::Column::meta, key, text);
  if (error.code == errc::not_found) return;
  if (error) {
    logger_.warn("node", "cannot read the members known before this start: {}", error.message);
    return;
  }
  std::size_t start = 0;
  while (start < text.size() && addresses_.size() < max_addresses) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) addresses_.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  std::sort(addresses_.begin(), addresses_.end());
}

std::vector<std::string> KnownPeers::seeds_with(const std::vector<std::string>& seeds) const {
  std::vector<std::string> all = seeds;
  for (const std::string& address : addresses_) {
    if (std::find(all.begin(), all.end(), address) == all.end()) all.push_back(address);
  }
  return all;
}

void KnownPeers::remember(const std::vector<MemberSnapshot>& members, const std::string& self) {
  std::vector<std::string> live;
  for (const MemberSnapshot& member : members) {
    if (member.name != self && cluster::swim::is_live(member.state) &&
        !member.gossip_address.empty()) {
      live.push_back(member.gossip_address);
    }
  }
  if (live.empty()) return;
  std::sort(live.begin(), live.end());
  if (live.size() > max_addresses) live.resize(max_addresses);
  if (live == addresses_) return;
  std::string text;
  for (const std::string& address : live) {
    text += address;
    text += '\n';
  }
  store::WriteBatch batch;
  batch.put(store::Column::meta, key, text);
  // Not synced: a hint for the next start, and the previous list serves as well.
  if (Error error = kv_.write(batch, false)) {
    logger_.warn("node", "cannot record the cluster's members for the next start: {}",
                 error.message);
    return;
  }
  addresses_ = std::move(live);
}

}  // namespace qim::node
