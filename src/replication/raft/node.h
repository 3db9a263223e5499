#pragma once
// Node: the facade the shell drives, one per replica of a group (etcd's RawNode). Inputs are
// tick(), step() and the leader's calls; outputs come out as a Ready, which the shell carries
// out and then acknowledges with advance():
//
//   while (node.has_ready()) {
//     Ready ready = node.ready();
//     // 1. if ready.snapshot: install the state-machine data received for it; the log becomes
//     //    empty after it (first index = snapshot.index + 1), applied index = snapshot.index.
//     // 2. if !ready.entries.empty(): delete stored entries >= entries.front().index, append.
//     // 3. if ready.hard_state: store it (1-3 in one atomic, durable write).
//     // 4. send ready.messages (a snapshot message: stream the state machine's data with it).
//     // 5. apply ready.committed_entries in order; persist the applied index and, for a
//     //    config_change entry, the new configuration atomically with it.
//     node.advance();
//   }
//
// Ownership and threading: owned by the shell's group object, used from one thread at a time;
// not thread-safe. Holds a reference to the Storage, which must outlive it.
//
// Between ready() and advance() the shell may keep calling tick() and step() (what they
// produce goes into the next Ready), but not ready() again.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "qim/errc.h"
#include "replication/raft/options.h"
#include "replication/raft/raft.h"
#include "replication/raft/result.h"
#include "replication/raft/storage.h"
#include "replication/raft/types.h"

namespace qim::replication::raft {

// The state every initial voter of a new group starts from: a snapshot point at index 1
// (kBootstrapTerm) holding the configuration, no entries, and hard state {kBootstrapTerm, none,
// 1}. A replica added later starts empty ({0, 0, {}}) and receives a snapshot. Keeping the
// initial configuration out of the log means no replica can ever replay the log without it.
SnapshotMeta bootstrap_snapshot(Configuration config);
HardState bootstrap_hard_state();

struct Ready {
  // Persist if set (changed since the last Ready).
  std::optional<HardState> hard_state;
  // Append to the log; may replace a suffix: delete entries >= entries.front().index first.
  std::vector<Entry> entries;
  // A snapshot received from the leader to install (the shell holds its data).
  std::optional<SnapshotMeta> snapshot;
  // Send after persisting the above.
  std::vector<Message> messages;
  // Apply in order, after the snapshot if any.
  std::vector<Entry> committed_entries;
  // Role, leader or term changed (logs, leader hints).
  bool role_changed = false;
};

class Node {
 public:
  struct Status {
    NodeId id = kNoNode;
    Role role = Role::follower;
    Term term = 0;
    NodeId vote = kNoNode;
    NodeId leader = kNoNode;
    Index commit = 0;
    Index applied = 0;
    Index last_index = 0;
    Configuration config;
    // Leader only.
    std::vector<FollowerStatus> followers;
    bool transferring = false;
    NodeId transfer_target = kNoNode;
    bool quiesced = false;
  };

  // REQUIRES: see Raft's constructor.
  Node(Options options, const Storage& storage);

  void tick();
  // Messages with to != id (or from this replica itself) are refused; so are malformed ones.
  Error step(const Message& message);
  Error step(Message&& message);

  // Leader only. Returns the index the entry got; the shell tracks a proposal by index and term
  // (status().term at proposal time) and knows it lost if another entry commits at that index.
  // Refused with errc::wrong_node when not leader, errc::unavailable during a leadership
  // transfer, errc::rate_limited beyond Options::max_uncommitted_bytes.
  Result<Index> propose(std::string data);
  // Also refused (errc::unavailable) while another change is pending and until this leader has
  // committed an entry of its own term, and (errc::invalid_argument) when it does not apply.
  Result<Index> propose_config_change(ConfigChange change);
  // Leader only, to another voter: no proposals until it ends; aborted after election_ticks.
  void transfer_leadership(NodeId to);
  // Starts an election now (a pre-vote first when enabled). Voters only.
  void campaign();
  // The transport failed to deliver to `node`: stop pipelining to it and probe.
  void report_unreachable(NodeId node);
  // The shell's snapshot stream to `node` ended (ok: delivered).
  void report_snapshot(NodeId node, bool ok);

  // Quiescence: an idle group goes quiet (no heartbeats, no election timers), which matters
  // with hundreds of groups per node. can_quiesce(): leader, no transfer, nothing proposed or
  // pending, everything committed and handed out, every member matched at the last index.
  // quiesce() (leader): sends a last heartbeat carrying the commit index and kQuiesceMark, then
  // stops heartbeats and CheckQuorum; a follower that is caught up with it stops its election
  // timer (it stays in lease: it keeps refusing votes). Any other message wakes a quiet replica
  // (a proposal or an append wakes the group; a pre-vote from a replica that suspects the leader
  // wakes whoever gets it); so does wake(). The lease is not renewed while quiet.
  // The shell must wake every replica of a group whose leader's node its node-level liveness
  // (gossip) holds suspect, dead or unreachable: a quiet follower never times out by itself.
  bool can_quiesce() const { return raft_.can_quiesce(); }
  void quiesce() { raft_.quiesce(); }
  void wake() { raft_.wake(); }
  bool quiesced() const { return raft_.quiesced(); }
  // A leadership transfer is under way (proposals are refused until it ends).
  bool transferring() const { return raft_.transfer_target() != kNoNode; }

  // O(1). False while a Ready is out (between ready() and advance()).
  bool has_ready() const;
  // Everything since the last Ready. REQUIRES: no Ready out.
  Ready ready();
  // The last Ready was persisted, sent and applied. REQUIRES: a Ready is out.
  void advance();

  // Leader lease: the tick count (as counted by this Node's tick()) at or after which a quorum
  // of voters last heard from this leader in its current term; nullopt when not leader, while
  // (or after, within the term) transferring leadership, before the leader's first entry
  // committed, or before a quorum has answered a heartbeat. A follower that heard from the
  // leader refuses to vote for election_ticks ticks (check_quorum), so the shell may serve reads
  // locally until (that tick + election_ticks - 1 - a margin for clock drift between nodes; the
  // one tick because a follower's count starts up to a tick after it heard), once it has applied
  // everything up to the commit index it saw when the lease was read.
  std::optional<std::uint64_t> lease_start_tick() const { return raft_.lease_start_tick(); }

  Status status() const;
  NodeId id() const { return raft_.id(); }
  Role role() const { return raft_.role(); }
  Term term() const { return raft_.term(); }
  NodeId leader() const { return raft_.leader(); }
  const Configuration& config() const { return raft_.config(); }
  std::uint64_t tick_count() const { return raft_.tick_count(); }

  // Aborts with a message naming the broken invariant. Used after every step in tests.
  void invariants() const;

 private:
  Raft raft_;
  bool ready_out_ = false;
  // What the Ready that is out handed over, to acknowledge on advance().
  Index handed_last_index_ = 0;
  Term handed_last_term_ = 0;
  bool handed_entries_ = false;
  std::optional<Index> handed_snapshot_index_;
  Index handed_applying_ = 0;
  // What the shell last saw.
  HardState last_hard_state_;
  Role last_role_ = Role::follower;
  NodeId last_leader_ = kNoNode;
};

}  // namespace qim::replication::raft
