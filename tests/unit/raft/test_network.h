#pragma once
// A small in-process group for scenario tests in the style of etcd's raft tests: replicas with
// a MemoryStorage and a shell that carries out every Ready exactly as the real shell must
// (install snapshot, append, store hard state, send, apply, advance), and a network that
// delivers, drops or holds messages on request. invariants() runs after every step.
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "replication/raft/memory_storage.h"
#include "replication/raft/node.h"

namespace qim::replication::raft::testing {

struct Replica {
  NodeId id = kNoNode;
  MemoryStorage storage;
  std::unique_ptr<Node> node;
  // The state machine: the data of every applied normal, non-empty entry, in order.
  std::vector<std::string> applied_data;
  Index applied_index = 0;
  Term applied_term = 0;
  Configuration applied_config;
  // Snapshot data received (the leader's applied_data at meta.index), until installed.
  std::optional<std::pair<SnapshotMeta, std::vector<std::string>>> received_snapshot;
  bool crashed = false;
};

class TestNetwork {
 public:
  using Tweak = std::function<void(Options&)>;

  // A new group whose voters are `voters`, all bootstrapped; options.random_seed = seed.
  explicit TestNetwork(std::vector<NodeId> voters, Tweak tweak = {}, std::uint64_t seed = 1);

  Node& node(NodeId id) { return *replica(id).node; }
  Replica& replica(NodeId id);
  std::vector<NodeId> ids() const;

  // A replica that is not part of the group yet (empty storage), e.g. to add as a learner.
  void add_empty_replica(NodeId id);
  // Replaces the replica's log after the bootstrap point with entries of the given terms (at
  // indexes 2, 3, ...; data "<index>/<term>"), sets its hard state, and restarts it.
  void preset_log(NodeId id, const std::vector<Term>& terms, Term term, NodeId vote = kNoNode);
  // The terms of the replica's stored entries after the bootstrap point (index 2 on).
  std::vector<Term> log_terms(NodeId id);
  // Rebuilds the replica's Node from what its storage and state machine hold (a restart).
  void restart(NodeId id);
  void crash(NodeId id) { replica(id).crashed = true; }

  // Runs every replica's Readies and delivers messages until nothing moves (bounded).
  void stabilize();
  // Processes Readies of every replica once, queueing their messages.
  void process_readies();
  // Delivers queued messages (and the messages they cause) until none is left; bounded.
  void deliver_all();
  // Ticks one replica n times, processing Readies after each tick (messages stay queued).
  void tick(NodeId id, int n = 1);
  void tick_all(int n = 1);
  // Campaign on `id` and stabilize.
  void elect(NodeId id);
  // Proposes on `id` and stabilizes; returns the index or fails the test.
  Index propose(NodeId id, const std::string& data);
  // Proposes a configuration change on `leader` and stabilizes until every replica has it
  // committed (a heartbeat carries the commit index); returns the index or fails the test.
  Index change_config(NodeId leader, ConfigChangeKind kind, NodeId node);

  // Faults. A dropped message is gone; a held one waits in held() until released.
  void isolate(NodeId id);
  void cut(NodeId a, NodeId b);
  void cut_one_way(NodeId from, NodeId to);
  void heal();
  void set_drop(std::function<bool(const Message&)> drop) { drop_ = std::move(drop); }
  void set_hold(std::function<bool(const Message&)> hold) { hold_ = std::move(hold); }
  std::deque<Message>& held() { return held_; }
  void release_held();

  // Every message that went through the network (delivered or not), for inspection.
  const std::vector<Message>& sent() const { return sent_; }
  void clear_sent() { sent_.clear(); }
  std::size_t count_sent(MessageType type, NodeId from = kNoNode, NodeId to = kNoNode) const;

  // Every role change observed, and the leader (if any) of each term.
  NodeId leader_of_term(Term term) const;
  std::optional<NodeId> current_leader() const;

  // The config and data the snapshot of `id`'s state machine would carry right now.
  SnapshotMeta state_snapshot_meta(const Replica& replica) const;
  // Moves the storage's snapshot point to the applied index and compacts below `first_kept`.
  void compact(NodeId id, Index first_kept);

  // The options every replica gets.
  Options options_for(NodeId id) const;

 private:
  void handle_ready(Replica& replica);
  void deliver(Message message);
  bool blocked(const Message& message) const;

  std::map<NodeId, Replica> replicas_;
  Tweak tweak_;
  std::uint64_t seed_;
  std::deque<Message> queue_;
  std::deque<Message> held_;
  std::vector<Message> sent_;
  std::vector<std::pair<NodeId, NodeId>> cuts_;
  std::function<bool(const Message&)> drop_;
  std::function<bool(const Message&)> hold_;
  std::map<Term, NodeId> leaders_;
  // The state-machine data each snapshot message carries, by (from, to, index).
  std::map<std::tuple<NodeId, NodeId, Index>, std::vector<std::string>> snapshot_data_;
};

}  // namespace qim::replication::raft::testing
