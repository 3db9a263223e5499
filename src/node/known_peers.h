#pragma once
// The gossip addresses of the cluster's other members, as this node last saw them alive, kept
// in the store's meta column (one address per line). A restarted node rejoins through them as
// well as through --seed: the node that was everyone's seed has no --seed of its own and would
// otherwise start a second cluster alone, holding stale replicas nobody can reach.
//
// Owned by main; used on the control thread only.
#include <cstddef>
#include <string>
#include <vector>

#include "core/log.h"
#include "node/membership_node.h"
#include "store/kv.h"

namespace qim::node {

class KnownPeers {
 public:
  static constexpr std::size_t max_addresses = 16;

  KnownPeers(store::Kv& kv, core::Logger& logger) : kv_(kv), logger_(logger) {}

  // Reads what the last run recorded (nothing when it recorded nothing).
  void load();
  // `seeds` followed by the recorded addresses that are not among them.
  std::vector<std::string> seeds_with(const std::vector<std::string>& seeds) const;
  const std::vector<std::string>& addresses() const { return addresses_; }
  // Records the live members other than `self`, when they changed. Alone, it keeps the last
  // cluster it saw.
  void remember(const std::vector<MemberSnapshot>& members, const std::string& self);

 private:
  store::Kv& kv_;
  core::Logger& logger_;
  std::vector<std::string> addresses_;  // sorted
};

}  // namespace qim::node
