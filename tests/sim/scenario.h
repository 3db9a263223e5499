#pragma once
// A reusable fault scenario over the simulator: a converged cluster, optional stall-prone
// nodes, periodic crashes of healthy nodes, and the measurements the tests and qim-swim-sim
// report (detection times, false positives, load).
#include <cstdint>
#include <vector>

#include "tests/sim/swim_sim.h"

namespace qim::sim {

struct ScenarioOptions {
  std::size_t nodes = 100;
  std::uint64_t seed = 1;
  bool lifeguard = true;
  double loss = 0.0;
  // Fraction of nodes that stall now and then, for stall_min_ms..stall_max_ms each time, with
  // stall_gap_min_ms..stall_gap_max_ms between stalls.
  double stall_rate = 0.0;
  std::int64_t stall_min_ms = 2000;
  std::int64_t stall_max_ms = 5000;
  std::int64_t stall_gap_min_ms = 5000;
  std::int64_t stall_gap_max_ms = 30'000;
  // While stalled the node is starved, not frozen: a short slice of CPU every so often
  // (0: frozen for the whole stall).
  std::int64_t stall_wake_gap_min_ms = 300;
  std::int64_t stall_wake_gap_max_ms = 1500;
  // Simulated time measured after the cluster converged and warmed up.
  std::int64_t duration_ms = 600'000;
  // Crash one random healthy node this often (0: never). Crashed nodes stay down.
  std::int64_t crash_every_ms = 0;
  bool check_invariants = true;
  swim::Config swim;  // lifeguard is taken from the field above.
};

struct ScenarioReport {
  bool converged = false;
  std::int64_t convergence_ms = 0;
  // Per crash: time from the crash to the first suspicion anywhere, and until every up node
  // holds it dead (-1: not within the run).
  std::vector<std::int64_t> first_suspect_ms;
  std::vector<std::int64_t> all_dead_ms;
  // Per crash: from the first suspicion until every up node holds it dead.
  std::vector<std::int64_t> all_dead_after_first_suspect_ms;
  std::int64_t min_suspicion_timeout_ms = 0;
  // Suspicions raised by a node's own failed probe against a healthy (never stalling, up) node,
  // and against any up node.
  std::uint64_t false_suspicions_of_healthy = 0;
  std::uint64_t false_suspicions_of_up = 0;
  // Distinct (member, restart epoch) declared dead while the member was up.
  std::uint64_t false_deaths_of_healthy = 0;
  std::uint64_t false_deaths_of_up = 0;
  std::uint64_t stalls = 0;
  double datagrams_per_member_per_second = 0;
  double bytes_per_member_per_second = 0;
  double push_pulls_per_member_per_second = 0;
  std::uint64_t max_datagram_bytes = 0;
};

ScenarioReport run_scenario(const ScenarioOptions& options);

// The p-th percentile (0..100) by nearest rank; -1 entries (never happened) sort last.
std::int64_t percentile(std::vector<std::int64_t> values, double p);

}  // namespace qim::sim
