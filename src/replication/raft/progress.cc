#include "replication/raft/progress.h"

#include <algorithm>

namespace qim::replication::raft {

void Inflights::add(Index last_index) {
  if (buffer_.size() == count_) {
    // Grow (at most to capacity), unrolling the ring so that it starts at 0 again.
    const std::size_t size = std::min(capacity_, std::max<std::size_t>(4, buffer_.size() * 2));
    std::vector<Index> grown(size);
    for (std::size_t i = 0; i < count_; ++i) {
      grown[i] = buffer_[(start_ + i) % buffer_.size()];
    }
    buffer_ = std::move(grown);
    start_ = 0;
  }
  buffer_[(start_ + count_) % buffer_.size()] = last_index;
  ++count_;
}

void Inflights::free_through(Index index) {
  while (count_ > 0 && buffer_[start_] <= index) {
    start_ = (start_ + 1) % buffer_.size();
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

bool Inflights::invariants_hold() const {
  if (count_ > capacity_ || buffer_.size() > capacity_ || count_ > buffer_.size()) return false;
  for (std::size_t i = 1; i < count_; ++i) {
    if (buffer_[(start_ + i - 1) % buffer_.size()] >= buffer_[(start_ + i) % buffer_.size()]) {
      return false;
    }
  }
  return true;
}

void Progress::become_probe() {
  if (state == ProgressState::snapshot) {
    // The snapshot may have arrived (report_snapshot ok); if it did not, the probe at
    // pending_snapshot + 1 is rejected and backs off from there.
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = ProgressState::probe;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.reset();
  sent_commit_index = std::min(sent_commit_index, next - 1);
}

void Progress::become_replicate() {
  state = ProgressState::replicate;
  next = match + 1;
  pending_snapshot = 0;
  probe_sent = false;
  inflights.reset();
  match_at_heartbeat = match;
}

void Progress::become_snapshot(Index snapshot_index) {
  state = ProgressState::snapshot;
  pending_snapshot = snapshot_index;
  next = std::max(match, snapshot_index) + 1;
  probe_sent = false;
  inflights.reset();
}

bool Progress::maybe_update(Index index) {
  if (index <= match) return false;
  match = index;
  next = std::max(next, index + 1);
  probe_sent = false;
  return true;
}

bool Progress::maybe_decrease_to(Index rejected, Index match_hint) {
  if (state == ProgressState::replicate) {
    // Appends are pipelined: only a rejection above what is known to match means anything.
    if (rejected <= match) return false;
    next = match + 1;
    sent_commit_index = std::min(sent_commit_index, next - 1);
    return true;
  }
  // Probe (or snapshot): only the answer to the append we sent last counts.
  if (next - 1 != rejected) return false;
  next = std::max(std::min(rejected, match_hint + 1), match + 1);
  sent_commit_index = std::min(sent_commit_index, next - 1);
  probe_sent = false;
  return true;
}

void Progress::sent_entries(std::size_t entries, Index last_index) {
  switch (state) {
    case ProgressState::replicate:
      if (entries > 0) {
        next = last_index + 1;
        inflights.add(last_index);
      }
      break;
    case ProgressState::probe:
      probe_sent = true;
      break;
    case ProgressState::snapshot:
      break;
  }
}

bool Progress::paused() const {
  switch (state) {
    case ProgressState::probe:
      return probe_sent;
    case ProgressState::replicate:
      return inflights.full();
    case ProgressState::snapshot:
      return true;
  }
  return true;
}

bool Progress::invariants_hold() const {
  if (match >= next) return false;
  if (!inflights.invariants_hold()) return false;
  if (state != ProgressState::replicate && inflights.count() != 0) return false;
  if ((state == ProgressState::snapshot) != (pending_snapshot > 0)) return false;
  return true;
}

}  // namespace qim::replication::raft
