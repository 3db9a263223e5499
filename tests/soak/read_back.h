#pragma once
// The end of a run: every user logs in again with its password through a fresh client, syncs,
// lists its friends, reads every conversation it ever took part in from seq 0 in pages, and
// the roster of every group it was put in. Unavailable answers are retried until the deadline;
// whatever could not be read is recorded as such, for the checker to report.
#include <cstdint>
#include <vector>

#include "cluster.h"
#include "history.h"
#include "run_clock.h"
#include "workload.h"

namespace qim::soak {

struct ReadBackOptions {
  std::vector<Endpoint> endpoints;
  std::chrono::milliseconds request_timeout{10'000};
  std::int64_t deadline_ms = 0;  // run time
  std::uint32_t page_limit = 200;
};

void read_everything_back(const std::vector<UserSpec>& users, const std::vector<GroupSpec>& groups,
                          const ReadBackOptions& options, HistoryWriter& history,
                          const RunClock& clock);

}  // namespace qim::soak
