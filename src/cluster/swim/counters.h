#pragma once
// Protocol counters, kept apart from the logic so the shell can export them as metrics and the
// simulator can measure load and false positives.
#include <cstdint>

namespace qim::cluster::swim {

struct Counters {
  std::uint64_t probes_started = 0;
  std::uint64_t probes_acked = 0;
  std::uint64_t probes_failed = 0;
  // Lifeguard: the probe deadline was noticed too late to blame the target.
  std::uint64_t probes_inconclusive = 0;
  // Lifeguard: ticks that ran much later than requested (our process was starved).
  std::uint64_t starved_ticks = 0;
  std::uint64_t indirect_pings_sent = 0;
  std::uint64_t nacks_sent = 0;
  std::uint64_t suspicions_raised = 0;  // By our own failed probes.
  std::uint64_t refutations = 0;
  std::uint64_t reincarnations = 0;  // We were declared dead and took a new restart epoch.
  std::uint64_t datagrams_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t push_pulls_started = 0;
  std::uint64_t malformed_datagrams = 0;
  std::uint64_t updates_dropped_table_full = 0;
};

}  // namespace qim::cluster::swim
