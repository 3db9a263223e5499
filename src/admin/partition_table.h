#pragma once
// qimctl partitions: every partition's Raft group as the cluster reports it. Each live node
// answers with the replicas it hosts (their role, term, leader, commit, configuration and, at a
// leader, each follower's match); merge_partition_reports() turns those per-node reports into
// one row per partition. I/O-free and deterministic, so it is unit-tested on its own.
//
// Merge rule: for each partition, the view of the replica that leads it in the highest term
// wins (it alone knows its followers' progress); with no leader reporting, the highest-term
// report gives the configuration and the leader it believes in (flagged as not confirmed).
#include <cstdint>
#include <string>
#include <vector>

namespace qim::admin {

struct FollowerView {
  std::uint64_t replica = 0;
  std::uint64_t match = 0;
  bool learner = false;
  bool recently_active = false;
};

// Raft roles as the replica host numbers them: 0 follower, 1 pre-candidate, 2 candidate,
// 3 leader.
inline constexpr std::uint8_t role_leader = 3;

struct ReplicaStatusView {
  std::uint32_t partition = 0;
  std::uint64_t replica = 0;
  std::uint8_t role = 0;
  std::uint64_t term = 0;
  std::uint64_t leader = 0;  // replica id; 0: none known
  std::uint64_t commit = 0;
  std::uint64_t applied = 0;
  std::uint64_t last_index = 0;
  std::vector<std::uint64_t> voters;
  std::vector<std::uint64_t> learners;
  std::vector<FollowerView> followers;  // leader only
};

// What one node answered (answered == false: it did not, `error` says why).
struct NodeReplicaReport {
  std::string node;
  std::uint64_t replica_id = 0;
  bool answered = true;
  std::string error;
  std::vector<ReplicaStatusView> replicas;
};

// A member as the answering node knows it: its replica id and whether it is up.
struct MemberReplica {
  std::string name;
  std::uint64_t replica_id = 0;
  bool live = false;
};

struct PartitionRowView {
  std::uint32_t partition = 0;
  std::string leader;             // node name; empty: no leader known
  bool leader_confirmed = false;  // the leader itself reported (else: a follower's belief)
  std::uint64_t term = 0;
  std::uint64_t commit = 0;
  std::uint64_t last_index = 0;
  std::vector<std::string> voters;    // node names (a replica id in hex when unknown), sorted
  std::vector<std::string> learners;  // likewise
  std::vector<std::string> down;      // voters whose node is not live
  // The leader's last index minus the slowest voter's match; 0 without a confirmed leader.
  std::uint64_t lag = 0;
  bool under_replicated = false;
  bool reported = false;  // some node hosts a replica of it
};

struct NodeShareView {
  std::string node;
  std::uint32_t replicas = 0;  // replicas it reported hosting
  std::uint32_t leaders = 0;   // partitions whose merged row names it leader
  bool answered = false;
};

struct PartitionTableView {
  std::uint32_t partition_count = 0;
  std::uint32_t replicas_wanted = 0;   // min(--replicas, live members)
  std::vector<PartitionRowView> rows;  // one per partition, by partition
  std::vector<NodeShareView> nodes;    // one per node asked, by name
  std::uint32_t under_replicated = 0;
  std::uint32_t leaderless = 0;
  std::uint32_t nodes_answered = 0;
  std::uint32_t nodes_asked = 0;
};

// Merges the reports. `partition_count` partitions get a row each (one no node reports is
// leaderless and under-replicated); reports of partitions beyond it are ignored. A partition
// is under-replicated when it has fewer voters than min(replicas, live members), a voter is
// down, or it has no leader.
PartitionTableView merge_partition_reports(const std::vector<NodeReplicaReport>& reports,
                                           const std::vector<MemberReplica>& members,
                                           std::uint32_t partition_count, std::uint32_t replicas);

// The node name of `replica` among `members`, or the id in hex ("00000000000000ff").
std::string replica_name(const std::vector<MemberReplica>& members, std::uint64_t replica);

}  // namespace qim::admin
