#pragma once
// The tunables of one Raft replica. Times are in ticks of Node::tick(); the shell picks the
// tick length (e.g. 100 ms).
#include <cstddef>
#include <cstdint>

#include "replication/raft/types.h"

namespace qim::replication::raft {

struct Options {
  NodeId id = kNoNode;
  // A follower campaigns after a randomised timeout in [election_ticks, 2 * election_ticks)
  // without hearing from a leader; a leader steps down (check_quorum) when it has not heard
  // from a quorum within election_ticks.
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  // The leader tells followers of a new commit index at once, with an otherwise empty append
  // (which they answer). Off, the commit index reaches them with the next append or heartbeat
  // (within heartbeat_ticks): nobody waits for a follower to apply, so this only delays their
  // apply, and a lone write then costs one round of messages instead of two.
  bool announce_commit = true;
  // Entries per append message (at least one entry is always sent).
  std::size_t max_message_bytes = 1 << 20;
  // Appends in flight per follower in replicate state.
  std::size_t max_inflight_messages = 256;
  // Proposals are refused (errc::rate_limited) while the leader's uncommitted entries exceed
  // this; one proposal is always accepted when nothing is uncommitted.
  std::size_t max_uncommitted_bytes = 64 << 20;
  // Committed entries handed out per Ready (at least one).
  std::size_t max_committed_bytes = 64 << 20;
  // The last index the shell applied (at restart); 0 means Storage::snapshot().index.
  Index applied = 0;
  // The only source of randomness (election timeouts); mixed with `id`, so replicas given the
  // same seed still draw different timeouts.
  std::uint64_t random_seed = 0;
};

}  // namespace qim::replication::raft
