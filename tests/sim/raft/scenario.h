#pragma once
// One randomised run of the Raft cluster simulator, everything derived from a seed: the cluster's
// shape (nodes, groups, replicas), the network's faults, a schedule of partitions (symmetric,
// one-way, bridge), crashes and restarts (process crashes, or power cuts in fsync mode), pauses
// (SIGSTOP and SIGCONT), replica moves, wipes and leadership transfers, while clients send
// messages. Then everything heals and
// the run checks liveness (every group elects a leader and commits a new proposal within a
// bound) and the final state (identical state machines, every acknowledged send in place).
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace qim::sim::raft {

struct ScenarioOptions {
  std::uint64_t seed = 1;
  // Bigger clusters and longer runs (the slow label).
  bool large = false;
  std::int64_t active_ms = 5000;
  // Liveness bound after healing: a leader and a committed proposal in every group.
  std::int64_t liveness_limit_ms = 3000;
  // Then every member caught up and every replica change finished.
  std::int64_t settle_limit_ms = 6000;
  bool check_invariants = true;
  std::FILE* trace = nullptr;
};

struct ScenarioReport {
  bool ok = false;
  std::string failure;
  // One line: the run's shape and what happened in it.
  std::string summary;
  std::uint64_t acknowledged = 0;
  std::uint64_t committed_entries = 0;
  std::uint64_t config_changes = 0;
  std::uint64_t snapshots = 0;
  std::uint64_t messages = 0;
  std::uint64_t pauses = 0;
  // Removed replicas created again for a leader's message (from their tombstones).
  std::uint64_t revived = 0;
};

ScenarioReport run_scenario(const ScenarioOptions& options);

// Election time after leader crashes on a healthy network, in ms: `crashes` crashes of the node
// leading some group, each measured from the crash to the group's next leader.
std::vector<std::int64_t> measure_election_times(std::uint64_t seed, int crashes,
                                                 std::int64_t& election_timeout_ms);

}  // namespace qim::sim::raft
