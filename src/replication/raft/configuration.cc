#include "replication/raft/configuration.h"

#include <algorithm>

namespace qim::replication::raft {
namespace {

bool sorted_unique(const std::vector<NodeId>& ids) {
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == kNoNode) return false;
    if (i > 0 && ids[i - 1] >= ids[i]) return false;
  }
  return true;
}

bool contains(const std::vector<NodeId>& sorted_ids, NodeId node) {
  return std::binary_search(sorted_ids.begin(), sorted_ids.end(), node);
}

void insert_sorted(std::vector<NodeId>& ids, NodeId node) {
  ids.insert(std::lower_bound(ids.begin(), ids.end(), node), node);
}

void erase_sorted(std::vector<NodeId>& ids, NodeId node) {
  auto found = std::lower_bound(ids.begin(), ids.end(), node);
  if (found != ids.end() && *found == node) ids.erase(found);
}

}  // namespace

bool is_voter(const Configuration& config, NodeId node) {
  return contains(config.voters, node);
}

bool is_learner(const Configuration& config, NodeId node) {
  return contains(config.learners, node);
}

bool well_formed(const Configuration& config) {
  if (!sorted_unique(config.voters) || !sorted_unique(config.learners)) return false;
  for (NodeId learner : config.learners) {
    if (contains(config.voters, learner)) return false;
  }
  return true;
}

Error validate_change(const Configuration& config, const ConfigChange& change) {
  const std::string node = std::to_string(change.node);
  if (change.node == kNoNode) return {errc::invalid_argument, "config change names no node"};
  switch (change.kind) {
    case ConfigChangeKind::add_learner:
      if (is_member(config, change.node)) {
        return {errc::invalid_argument, "add_learner: node " + node + " is already a member"};
      }
      return {};
    case ConfigChangeKind::promote:
      if (!is_learner(config, change.node)) {
        return {errc::invalid_argument, "promote: node " + node + " is not a learner"};
      }
      return {};
    case ConfigChangeKind::remove:
      if (!is_member(config, change.node)) {
        return {errc::invalid_argument, "remove: node " + node + " is not a member"};
      }
      if (is_voter(config, change.node) && config.voters.size() == 1) {
        return {errc::invalid_argument, "remove: node " + node + " is the last voter"};
      }
      return {};
  }
  return {errc::invalid_argument, "unknown config change kind"};
}

bool apply_change(Configuration& config, const ConfigChange& change) {
  if (validate_change(config, change)) return false;
  switch (change.kind) {
    case ConfigChangeKind::add_learner:
      insert_sorted(config.learners, change.node);
      break;
    case ConfigChangeKind::promote:
      erase_sorted(config.learners, change.node);
      insert_sorted(config.voters, change.node);
      break;
    case ConfigChangeKind::remove:
      erase_sorted(config.learners, change.node);
      erase_sorted(config.voters, change.node);
      break;
  }
  return true;
}

VoteResult tally_votes(const Configuration& config, std::span<const NodeId> granted,
                       std::span<const NodeId> rejected) {
  std::size_t yes = 0;
  std::size_t no = 0;
  for (NodeId voter : config.voters) {
    if (std::find(granted.begin(), granted.end(), voter) != granted.end()) {
      ++yes;
    } else if (std::find(rejected.begin(), rejected.end(), voter) != rejected.end()) {
      ++no;
    }
  }
  const std::size_t needed = quorum(config);
  if (yes >= needed) return VoteResult::won;
  if (no > config.voters.size() - needed) return VoteResult::lost;
  return VoteResult::pending;
}

}  // namespace qim::replication::raft
