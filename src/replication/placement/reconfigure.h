#pragma once
// The next step a partition's leader takes to move its Raft configuration toward the target
// replica set (layout.h): one change at a time, each committed before the next is chosen.
//
//   a target replica missing from the configuration  -> add it as a learner
//   a learner in the target that has caught up       -> promote it to voter
//   a learner not in the target                      -> remove it
//   every target replica a voter, another voter left -> remove that voter (the leader itself:
//                                                       transfer leadership to a caught-up
//                                                       target voter first)
//   configuration == target, leader not the preferred -> transfer leadership to it (when caught
//                                                       up and live)
//
// A removal that would leave fewer live voters than a quorum of the new configuration is not
// chosen: the group must stay writable through every step. Pure.
#include <cstdint>
#include <vector>

#include "replication/placement/layout.h"

namespace qim::replication {

// What the leader knows of its group (from its Raft status).
struct GroupView {
  ReplicaId self = 0;
  std::vector<ReplicaId> voters;    // the committed configuration
  std::vector<ReplicaId> learners;  // the committed configuration
  bool change_pending = false;      // a configuration change is proposed and not applied yet
  std::uint64_t last_index = 0;     // the leader's last log index
  struct Follower {
    ReplicaId id = 0;
    std::uint64_t match = 0;       // highest index known replicated there
    bool recently_active = false;  // heard from within an election timeout
  };
  std::vector<Follower> followers;  // every other voter and learner
};

enum class ActionKind : std::uint8_t {
  none,
  add_learner,
  promote,
  remove,
  transfer_leadership,
};

struct Action {
  ActionKind kind = ActionKind::none;
  ReplicaId replica = 0;

  friend bool operator==(const Action&, const Action&) = default;
};

struct ReconfigureOptions {
  // A learner is caught up when its match is within this many entries of the leader's last.
  std::uint64_t catch_up_entries = 64;
  // Whether leadership may move to the preferred leader (the caller rate-limits this).
  bool balance_leaders = true;
  // The target of this leader's last handover, which did not happen (it still leads): another
  // candidate is tried first, so one replica that cannot take over (just restarted, behind in
  // a way its match does not show) does not hold a leaving leader for good. 0: none.
  ReplicaId failed_handover = 0;
};

// `live`: replicas whose node this leader currently considers up (alive members). `target`:
// Layout::target(partition), preferred leader first.
Action next_action(const GroupView& group, const std::vector<ReplicaId>& target,
                   const std::vector<ReplicaId>& live, const ReconfigureOptions& options = {});

}  // namespace qim::replication
