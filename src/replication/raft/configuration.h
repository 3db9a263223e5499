#pragma once
// Membership of a group: who votes, who only learns, the quorum math, and applying one change.
//
// Changes are single-server (one voter in or out at a time), so any two consecutive
// configurations have overlapping majorities; the core allows one change in the log at a time
// and switches to it when the entry is committed (see raft.h).
#include <cstddef>
#include <span>
#include <string>

#include "qim/errc.h"
#include "replication/raft/types.h"

namespace qim::replication::raft {

bool is_voter(const Configuration& config, NodeId node);
bool is_learner(const Configuration& config, NodeId node);
inline bool is_member(const Configuration& config, NodeId node) {
  return is_voter(config, node) || is_learner(config, node);
}

// Sorted, without duplicates or kNoNode, voters and learners disjoint.
bool well_formed(const Configuration& config);

// Votes needed for a majority of the voters.
inline std::size_t quorum(const Configuration& config) {
  return config.voters.size() / 2 + 1;
}

// Why `change` cannot apply to `config` (errc::invalid_argument), or no error:
//   add_learner: the node is not a member yet;  promote: the node is a learner;
//   remove: the node is a member, and not the last voter.
Error validate_change(const Configuration& config, const ConfigChange& change);

// Applies a valid change and returns true; leaves `config` alone and returns false otherwise.
// Every replica applies the same committed entries, so an invalid one is skipped by all alike.
bool apply_change(Configuration& config, const ConfigChange& change);

enum class VoteResult : std::uint8_t { pending, won, lost };

// The outcome of an election given the voters' answers so far. `granted` and `rejected` are the
// ids that answered yes and no (anything not a voter is ignored).
VoteResult tally_votes(const Configuration& config, std::span<const NodeId> granted,
                       std::span<const NodeId> rejected);

}  // namespace qim::replication::raft
