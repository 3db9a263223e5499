#pragma once
// Raft: the state machine of one replica of one group (roles, terms, votes, replication,
// configuration changes, leadership transfer, lease). Sans I/O: it reads Storage, and every
// output is a Message queued in messages() or a change of its log, which Node turns into a
// Ready. Node is the facade the shell uses; this class is its engine.
//
// Ownership and threading: owned by a Node, used from the thread that drives it; not
// thread-safe. It keeps a reference to the Storage, which must outlive it.
//
// Invariants (check_invariants, run after every step in tests): at most one vote per term (the
// vote is in the hard state, persisted before any message that depends on it leaves); a leader
// is a voter, has voted for itself and tracks a Progress for exactly the members of its
// configuration; the leader commits only by counting a quorum of matches on an entry of its own
// term; committed entries are never overwritten; at most one configuration change is
// uncommitted, and none before the leader committed an entry of its term.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "qim/errc.h"
#include "replication/raft/log.h"
#include "replication/raft/options.h"
#include "replication/raft/progress.h"
#include "replication/raft/random.h"
#include "replication/raft/result.h"
#include "replication/raft/storage.h"
#include "replication/raft/types.h"

namespace qim::replication::raft {

// The term a new group starts in (bootstrap_snapshot()); the first election raises it. A
// replica restarted with a higher term has been part of a group with a leader.
inline constexpr Term kBootstrapTerm = 1;

class Raft {
 public:
  // REQUIRES: options.id != kNoNode; 1 <= heartbeat_ticks < election_ticks; limits >= 1;
  // storage consistent (storage.h); a non-empty configuration comes with a snapshot index >= 1.
  Raft(const Options& options, const Storage& storage);

  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  void tick();
  Error step(Message&& message);
  Result<Index> propose(std::string&& data);
  Result<Index> propose_config_change(const ConfigChange& change);
  void transfer_leadership(NodeId to);
  void campaign();
  void report_unreachable(NodeId node);
  void report_snapshot(NodeId node, bool ok);

  // Quiescence (node.h).
  bool can_quiesce() const;
  void quiesce();
  void wake();
  bool quiesced() const { return quiesced_; }

  // ---- Used by Node --------------------------------------------------------------------------
  // Proposals are batched: the appends that carry them go out when the Ready is built.
  bool appends_pending() const { return appends_pending_; }
  void flush_appends();
  // Committed entries were handed to the shell: configuration changes take effect now.
  void on_handed_out(const std::vector<Entry>& committed);
  std::vector<Message>& messages() { return messages_; }
  const std::vector<Message>& messages() const { return messages_; }

  RaftLog& log() { return log_; }
  const RaftLog& log() const { return log_; }
  NodeId id() const { return id_; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader() const { return leader_; }
  HardState hard_state() const { return {term_, vote_, log_.committed()}; }
  const Configuration& config() const { return config_; }
  const Options& options() const { return options_; }
  std::uint64_t tick_count() const { return tick_count_; }
  NodeId transfer_target() const { return transfer_target_; }
  // The leader's view of every member, itself included, sorted by id (empty unless leader).
  const std::vector<std::pair<NodeId, Progress>>& progress() const { return progress_; }
  std::optional<std::uint64_t> lease_start_tick() const;

  // Empty when every invariant holds; otherwise names the broken one.
  std::string check_invariants() const;

 private:
  enum class CampaignKind : std::uint8_t { pre_vote, election };

  // Roles.
  void reset(Term term);
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_campaign(CampaignKind kind, bool transfer);
  bool promotable() const;
  bool in_lease() const;
  bool has_unapplied_config_changes() const;

  // Message handlers.
  void handle_vote_request(const Message& message);
  void step_leader(Message& message);
  void step_candidate(Message& message);
  void step_follower(Message& message);
  void handle_append(Message& message);
  void handle_heartbeat(const Message& message);
  void handle_snapshot(const Message& message);
  bool restore(const SnapshotMeta& meta);

  // Leader.
  void tick_leader();
  void tick_election();
  Progress* find_progress(NodeId node);
  Progress& self_progress();
  void append_entry(EntryKind kind, std::string&& data);
  bool maybe_commit();
  // Sends one append (or a snapshot) to `to` if flow control allows. Returns whether it sent.
  bool send_append(NodeId to, Progress& progress, bool send_if_empty);
  // Sends everything flow control allows to `to`; an empty append if nothing else went out and
  // send_if_empty.
  void replicate_to(NodeId to, Progress& progress, bool send_if_empty);
  void broadcast_appends();
  // `mark`: kQuiesceMark for the quiet heartbeat, else 0.
  void broadcast_heartbeat(std::uint64_t mark);
  bool send_snapshot(NodeId to, Progress& progress);
  void send_timeout_now(NodeId to);
  void abort_transfer() { transfer_target_ = kNoNode; }
  void switch_config(Configuration next);
  void sync_progress_with_config();
  void step_down_after_removal();
  void send(Message&& message);
  void randomize_election_timeout();

  Options options_;
  NodeId id_;
  const Storage& storage_;
  Random random_;
  RaftLog log_;
  Configuration config_;

  Role role_ = Role::follower;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;

  std::uint64_t tick_count_ = 0;
  int election_elapsed_ = 0;
  int heartbeat_elapsed_ = 0;
  int randomized_election_ticks_ = 0;
  // After a restart the replica may have promised a leader not to vote; it keeps that promise
  // for this many more ticks (it cannot remember when it last heard from the leader).
  int startup_lease_ticks_ = 0;

  // Candidate.
  std::vector<NodeId> granted_;
  std::vector<NodeId> rejected_;

  // Leader.
  std::vector<std::pair<NodeId, Progress>> progress_;
  // Index of the last configuration change that may not have been handed out yet; proposals of
  // another change wait until log_.applying() reaches it.
  Index pending_config_index_ = 0;
  // The index of this leader's no-op: its term's first entry.
  Index term_start_index_ = 0;
  std::size_t uncommitted_bytes_ = 0;
  bool appends_pending_ = false;
  // Quiet: a leader sends no heartbeats and skips CheckQuorum; a follower's election timer stops.
  bool quiesced_ = false;
  NodeId transfer_target_ = kNoNode;
  int transfer_elapsed_ = 0;
  // A timeout_now went out in this term: it may still arrive and start an election, so no lease.
  bool timeout_now_sent_ = false;
  // Heartbeat rounds date lease acknowledgements: round r went out at round_ticks_[r % size].
  std::uint64_t heartbeat_round_ = 0;
  std::vector<std::uint64_t> round_ticks_;

  std::vector<Message> messages_;
  mutable std::vector<Index> scratch_indexes_;
  std::vector<Entry> scratch_entries_;
};

}  // namespace qim::replication::raft
