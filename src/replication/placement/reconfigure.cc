#include "replication/placement/reconfigure.h"

#include <algorithm>

namespace qim::replication {
namespace {

bool contains(const std::vector<ReplicaId>& ids, ReplicaId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

const GroupView::Follower* follower(const GroupView& group, ReplicaId id) {
  for (const auto& entry : group.followers) {
    if (entry.id == id) return &entry;
  }
  return nullptr;
}

bool caught_up(const GroupView& group, ReplicaId id, const ReconfigureOptions& options) {
  if (id == group.self) return true;
  const GroupView::Follower* entry = follower(group, id);
  return entry != nullptr && entry->recently_active &&
         entry->match + options.catch_up_entries >= group.last_index;
}

std::size_t quorum(std::size_t voters) {
  return voters / 2 + 1;
}

// Whether removing voter `id` leaves a live quorum of the smaller configuration.
bool removal_keeps_quorum(const GroupView& group, ReplicaId id,
                          const std::vector<ReplicaId>& live) {
  std::size_t remaining = group.voters.size() - 1;
  if (remaining == 0) return false;
  std::size_t live_remaining = 0;
  for (ReplicaId voter : group.voters) {
    if (voter != id && (voter == group.self || contains(live, voter))) ++live_remaining;
  }
  return live_remaining >= quorum(remaining);
}

}  // namespace

Action next_action(const GroupView& group, const std::vector<ReplicaId>& target,
                   const std::vector<ReplicaId>& live, const ReconfigureOptions& options) {
  if (group.change_pending || target.empty()) return {};
  auto in_config = [&](ReplicaId id) {
    return contains(group.voters, id) || contains(group.learners, id);
  };
  // Add what the target lacks, as a learner first (it catches up without counting for quorum).
  for (ReplicaId id : target) {
    if (!in_config(id) && contains(live, id)) return {ActionKind::add_learner, id};
  }
  for (ReplicaId id : group.learners) {
    if (!contains(target, id)) return {ActionKind::remove, id};
  }
  for (ReplicaId id : target) {
    if (contains(group.learners, id) && caught_up(group, id, options)) {
      return {ActionKind::promote, id};
    }
  }
  bool target_all_voters = std::all_of(target.begin(), target.end(),
                                       [&](ReplicaId id) { return contains(group.voters, id); });
  if (target_all_voters) {
    for (ReplicaId id : group.voters) {
      if (contains(target, id)) continue;
      if (id == group.self) {
        // Hand the group to a caught-up, live target voter; it removes us. The one a handover
        // already failed to goes last.
        ReplicaId fallback = 0;
        for (ReplicaId candidate : target) {
          if (!contains(live, candidate) || !caught_up(group, candidate, options)) continue;
          if (candidate != options.failed_handover) {
            return {ActionKind::transfer_leadership, candidate};
          }
          fallback = candidate;
        }
        if (fallback != 0) return {ActionKind::transfer_leadership, fallback};
        continue;
      }
      if (removal_keeps_quorum(group, id, live)) return {ActionKind::remove, id};
    }
  }
  if (options.balance_leaders && target_all_voters && group.voters.size() == target.size()) {
    ReplicaId preferred = target.front();
    if (preferred != group.self && contains(live, preferred) &&
        caught_up(group, preferred, options)) {
      return {ActionKind::transfer_leadership, preferred};
    }
  }
  return {};
}

}  // namespace qim::replication
