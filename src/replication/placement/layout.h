#pragma once
// Where every partition's replicas should be (DESIGN §6, §8): the *target* replica set of each
// partition, computed from the membership alone, and the replica that should lead it. Gossip
// proposes, the group decides: a target only tells a partition's leader which configuration to
// move toward, one Raft configuration change at a time (reconfigure.h); nothing here decides who
// may write.
//
// Eligible members: alive or suspect and not draining, plus dead members that have been dead
// for less than `replace_after_ms` (a briefly dead node keeps its replicas and catches up from
// the log when it returns). Members that left, are draining or are dead for longer are not
// eligible: their replicas move elsewhere.
//
// Each partition p sits on a consistent-hash ring over the eligible members' names (at the key
// "partition/<p>"); its target is the first `replicas` distinct members clockwise, skipping
// members that already hold their share of the cluster's replicas (consistent hashing with
// bounded loads), so a membership change moves few replicas and no node holds more than its
// share plus a small slack. The preferred leader of each partition is its first alive target
// member in ring order that leads fewer than its fair share so far (partitions in order), then
// leaderships move from the members that lead the most to alive replicas that lead two fewer,
// until none can: leaders spread evenly over the nodes (no alive replica of a partition leads
// two fewer than its leader), and a member that
// turns suspect, dies or joins moves few leaderships besides its own (each moved leadership
// sends its users to log in again at the new leader).
//
// Pure: no I/O, no clock (now_ms is an argument). Immutable once computed.
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/ring/ring.h"

namespace qim::replication {

using ReplicaId = std::uint64_t;  // a Raft replica id: random per data directory

enum class MemberHealth : std::uint8_t { alive, suspect, dead, left };

struct MemberView {
  std::string name;
  ReplicaId replica_id = 0;  // 0: not known yet (the member is then not eligible)
  MemberHealth health = MemberHealth::alive;
  std::int64_t health_since_ms = 0;  // when this node last saw `health` change
  bool draining = false;             // leaving gracefully: its replicas move away first
};

struct LayoutOptions {
  std::uint32_t partitions = 64;
  std::uint32_t replicas = 3;
  std::int64_t replace_after_ms = 5 * 60 * 1000;
  // A member may hold up to (its fair share of replicas) * (1 + load_slack), rounded up.
  double load_slack = 0.25;
  cluster::RingOptions ring;
};

class Layout {
 public:
  Layout() = default;
  static Layout compute(const std::vector<MemberView>& members, const LayoutOptions& options,
                        std::int64_t now_ms);

  std::uint32_t partitions() const { return static_cast<std::uint32_t>(targets_.size()); }
  // The target replica set of `partition`, preferred leader first; empty when no member is
  // eligible. REQUIRES: partition < partitions().
  const std::vector<ReplicaId>& target(std::uint32_t partition) const {
    return targets_[partition];
  }
  // The eligible members' replica ids, sorted.
  const std::vector<ReplicaId>& eligible() const { return eligible_; }
  bool is_eligible(ReplicaId id) const;

 private:
  std::vector<std::vector<ReplicaId>> targets_;
  std::vector<ReplicaId> eligible_;
};

// The ring key of a partition.
std::string partition_ring_key(std::uint32_t partition);

}  // namespace qim::replication
