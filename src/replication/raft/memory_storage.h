#pragma once
// MemoryStorage: a Storage held in memory, for tests and simulations, and a model of what the
// shell's persistent storage must do with a Ready.
//
// Ownership and threading: owned by whoever drives the Node that reads it; not thread-safe.
// Invariants: entries are contiguous from first_index() to last_index(); the term of
// first_index() - 1 is always known (the snapshot point or the last compacted entry);
// first_index() <= snapshot().index + 1 <= last_index() + 1.
#include <deque>

#include "replication/raft/storage.h"

namespace qim::replication::raft {

class MemoryStorage final : public Storage {
 public:
  MemoryStorage() = default;
  // A replica of a new group (bootstrap_snapshot()) or one restarted from saved state.
  explicit MemoryStorage(const SnapshotMeta& snapshot, const HardState& hard_state = {});

  HardState hard_state() const override { return hard_state_; }
  SnapshotMeta snapshot() const override { return snapshot_; }
  Index first_index() const override { return offset_; }
  Index last_index() const override { return offset_ + entries_.size() - 1; }
  std::optional<Term> term(Index i) const override;
  std::vector<Entry> entries(Index low, Index high, std::size_t max_bytes) const override;

  // What the shell does with a Ready, in this order: install_snapshot, append, set_hard_state.
  void set_hard_state(const HardState& hard_state) { hard_state_ = hard_state; }
  // Deletes the entries with index >= entries.front().index, then appends `entries`.
  // REQUIRES: entries contiguous; first_index() <= entries.front().index <= last_index() + 1.
  void append(std::vector<Entry> entries);
  // Replaces the whole log with the snapshot point: first_index() = meta.index + 1.
  void install_snapshot(const SnapshotMeta& meta);

  // After applying: the state machine can now be snapshotted at `meta` (its applied point).
  // REQUIRES: snapshot().index <= meta.index <= last_index().
  void set_snapshot(const SnapshotMeta& meta) { snapshot_ = meta; }
  // Drops the entries below `first_kept`. REQUIRES: first_kept <= snapshot().index + 1.
  void compact(Index first_kept);

 private:
  HardState hard_state_;
  SnapshotMeta snapshot_;
  // entries_[i] has index offset_ + i; the entry before them has term previous_term_.
  std::deque<Entry> entries_;
  Index offset_ = 1;
  Term previous_term_ = 0;
};

}  // namespace qim::replication::raft
