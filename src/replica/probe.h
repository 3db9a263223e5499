#pragma once
// The replica host's counters, kept apart from its logic: plain relaxed atomics bumped by the
// host's thread and read by anyone on a scrape (qimctl stats, /metrics). All count since start.
#include <atomic>
#include <cstdint>

namespace qim::replica {

struct ReplicaProbe {
  // A hosted replica saw its partition's leader or term change (elections, transfers).
  std::atomic<std::uint64_t> leader_changes{0};
  // A hosted replica became its partition's leader.
  std::atomic<std::uint64_t> leaderships_won{0};
  // Snapshots streamed to another replica completely, and installed here.
  std::atomic<std::uint64_t> snapshots_sent{0};
  std::atomic<std::uint64_t> snapshots_received{0};
  // Commands proposed here, and those that got no outcome from the log (not the leader,
  // refused by the core, timed out, overwritten, or the node stopping). A refusal decided by
  // apply is an outcome, not a failure.
  std::atomic<std::uint64_t> proposals{0};
  std::atomic<std::uint64_t> proposals_failed{0};
  // Ready cycles that had work (each makes at most one store write, unless a command must be
  // written alone): proposals per cycle is the host's batching.
  std::atomic<std::uint64_t> ready_cycles{0};

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
    counter.fetch_add(by, std::memory_order_relaxed);
  }
};

}  // namespace qim::replica
