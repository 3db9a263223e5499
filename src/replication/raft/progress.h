#pragma once
// The leader's view of one follower: how far its log matches, what to send next, and the flow
// control that bounds what is in flight to it.
//
// Invariants: match < next; in probe and snapshot states nothing is counted in flight; in
// snapshot state pending_snapshot > 0; the in-flight window holds at most its capacity and its
// indexes increase.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "replication/raft/types.h"

namespace qim::replication::raft {

// The last index of each append in flight to one follower, oldest first: a ring buffer that
// grows on demand up to `capacity` (most followers never need the whole window).
class Inflights {
 public:
  // REQUIRES: capacity >= 1.
  explicit Inflights(std::size_t capacity) : capacity_(capacity) {}

  // REQUIRES: !full(); last_index greater than every index already in flight.
  void add(Index last_index);
  // Frees every append whose last index is <= `index` (the follower acknowledged it).
  void free_through(Index index);
  void reset() { start_ = count_ = 0; }

  bool full() const { return count_ == capacity_; }
  std::size_t count() const { return count_; }
  std::size_t capacity() const { return capacity_; }
  bool invariants_hold() const;

 private:
  std::size_t capacity_;
  std::vector<Index> buffer_;
  std::size_t start_ = 0;
  std::size_t count_ = 0;
};

class Progress {
 public:
  // A follower the leader knows nothing about yet: probe from next.
  Progress(Index next, std::size_t max_inflight_messages, bool learner)
      : next(next), inflights(max_inflight_messages), learner(learner) {}

  void become_probe();
  // REQUIRES: the follower answered an append (match is known).
  void become_replicate();
  void become_snapshot(Index snapshot_index);

  // The follower has everything up to `index`. Returns false if that is old news.
  bool maybe_update(Index index);
  // The follower rejected the append whose previous entry was `rejected`; `match_hint` is the
  // highest index it may share with us. Returns false when the rejection is stale.
  bool maybe_decrease_to(Index rejected, Index match_hint);
  // An append went out with `entries` entries ending at `last_index`, carrying `commit`.
  void sent_entries(std::size_t entries, Index last_index);
  void sent_commit(Index commit) { sent_commit_index = commit; }
  // The follower may not know `commit` yet and has an entry it could commit.
  bool can_bump_commit(Index commit) const {
    return commit > sent_commit_index && sent_commit_index < next - 1;
  }

  // Nothing more may be sent now: a probe is in flight, the window is full, or a snapshot is.
  bool paused() const;
  bool invariants_hold() const;

  Index match = 0;
  Index next = 1;
  ProgressState state = ProgressState::probe;
  // snapshot state: the index of the snapshot we asked the shell to send.
  Index pending_snapshot = 0;
  // probe state: an append is in flight; cleared by an answer or a heartbeat response.
  bool probe_sent = false;
  // Heard from since the last CheckQuorum round.
  bool recent_active = false;
  // The highest commit index sent to the follower.
  Index sent_commit_index = 0;
  // replicate state: match when the previous heartbeat response came in; an unchanged match
  // below our last index means the appends in flight were probably lost.
  Index match_at_heartbeat = 0;
  // The highest heartbeat round the follower acknowledged in this term (for the lease).
  std::uint64_t acked_round = 0;
  Inflights inflights;
  bool learner = false;
};

}  // namespace qim::replication::raft
