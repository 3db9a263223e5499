#include "replication/raft/node.h"

#include <cstdio>
#include <cstdlib>

namespace qim::replication::raft {

SnapshotMeta bootstrap_snapshot(Configuration config) {
  return SnapshotMeta{1, kBootstrapTerm, std::move(config)};
}

HardState bootstrap_hard_state() {
  return HardState{kBootstrapTerm, kNoNode, 1};
}

Node::Node(Options options, const Storage& storage)
    : raft_(options, storage),
      last_hard_state_(storage.hard_state()),
      last_role_(raft_.role()),
      last_leader_(raft_.leader()) {}

void Node::tick() {
  raft_.tick();
}

Error Node::step(const Message& message) {
  Message copy = message;
  return raft_.step(std::move(copy));
}

Error Node::step(Message&& message) {
  return raft_.step(std::move(message));
}

Result<Index> Node::propose(std::string data) {
  return raft_.propose(std::move(data));
}

Result<Index> Node::propose_config_change(ConfigChange change) {
  return raft_.propose_config_change(change);
}

void Node::transfer_leadership(NodeId to) {
  raft_.transfer_leadership(to);
}

void Node::campaign() {
  raft_.campaign();
}

void Node::report_unreachable(NodeId node) {
  raft_.report_unreachable(node);
}

void Node::report_snapshot(NodeId node, bool ok) {
  raft_.report_snapshot(node, ok);
}

bool Node::has_ready() const {
  if (ready_out_) return false;
  const RaftLog& log = raft_.log();
  return !raft_.messages().empty() || raft_.appends_pending() || log.has_entries_to_persist() ||
         log.has_snapshot_to_persist() || log.has_committed_to_hand_out() ||
         raft_.hard_state() != last_hard_state_ || raft_.role() != last_role_ ||
         raft_.leader() != last_leader_;
}

Ready Node::ready() {
  if (ready_out_) {
    std::fprintf(stderr, "raft: ready() called before advance()\n");
    std::abort();
  }
  Ready ready;
  raft_.flush_appends();
  RaftLog& log = raft_.log();
  // Committed entries first: handing out a configuration change switches the configuration,
  // which may send messages or (a removed leader) change the role.
  log.take_committed(raft_.options().max_committed_bytes, ready.committed_entries);
  raft_.on_handed_out(ready.committed_entries);
  raft_.flush_appends();
  if (log.has_snapshot_to_persist()) ready.snapshot = log.take_snapshot_to_persist();
  log.take_entries_to_persist(ready.entries);
  const HardState hard_state = raft_.hard_state();
  if (hard_state != last_hard_state_) {
    ready.role_changed = hard_state.term != last_hard_state_.term;
    ready.hard_state = hard_state;
    last_hard_state_ = hard_state;
  }
  if (raft_.role() != last_role_ || raft_.leader() != last_leader_) {
    ready.role_changed = true;
    last_role_ = raft_.role();
    last_leader_ = raft_.leader();
  }
  ready.messages.swap(raft_.messages());

  ready_out_ = true;
  handed_entries_ = !ready.entries.empty();
  if (handed_entries_) {
    handed_last_index_ = ready.entries.back().index;
    handed_last_term_ = ready.entries.back().term;
  }
  handed_snapshot_index_.reset();
  if (ready.snapshot) handed_snapshot_index_ = ready.snapshot->index;
  handed_applying_ = log.applying();
  return ready;
}

void Node::advance() {
  if (!ready_out_) {
    std::fprintf(stderr, "raft: advance() without a Ready out\n");
    std::abort();
  }
  RaftLog& log = raft_.log();
  if (handed_snapshot_index_) log.stable_snapshot_to(*handed_snapshot_index_);
  if (handed_entries_) log.stable_to(handed_last_index_, handed_last_term_);
  log.applied_to(handed_applying_);
  ready_out_ = false;
}

Node::Status Node::status() const {
  Status status;
  status.id = raft_.id();
  status.role = raft_.role();
  status.term = raft_.term();
  status.vote = raft_.vote();
  status.leader = raft_.leader();
  status.commit = raft_.log().committed();
  status.applied = raft_.log().applied();
  status.last_index = raft_.log().last_index();
  status.config = raft_.config();
  status.transfer_target = raft_.transfer_target();
  status.transferring = status.transfer_target != kNoNode;
  status.quiesced = raft_.quiesced();
  for (const auto& [node, progress] : raft_.progress()) {
    if (node == raft_.id()) continue;
    FollowerStatus follower;
    follower.id = node;
    follower.learner = progress.learner;
    follower.match = progress.match;
    follower.next = progress.next;
    follower.state = progress.state;
    follower.recently_active = progress.recent_active;
    follower.paused = progress.paused();
    follower.inflight_messages = progress.inflights.count();
    status.followers.push_back(follower);
  }
  return status;
}

void Node::invariants() const {
  const std::string problem = raft_.check_invariants();
  if (problem.empty()) return;
  std::fprintf(stderr, "raft invariant broken on replica %llu: %s\n",
               static_cast<unsigned long long>(raft_.id()), problem.c_str());
  std::abort();
}

}  // namespace qim::replication::raft
