#pragma once
// PartitionLog: one partition's Raft log and state in the store, as the Raft core reads it
// (raft::Storage), plus what the replica host writes into it.
//
// In the store (raft_records.h): the entries from first_index() to last_index(), the hard state,
// the applied point (snapshot() here: a snapshot of the partition stands for it) and the
// compaction point. In memory: the same scalars and the newest entries (a bounded tail), so the
// leader replicates recent entries without reading the store; older ones are read from it.
//
// Every write is added to a WriteBatch the host writes (one batch per ready cycle for all
// partitions); the in-memory view changes at once. A failed batch write is fatal to the node
// (the host stops it), so memory never runs ahead of a store that survives.
//
// Ownership and threading: owned by its ReplicaGroup, used only on the host's thread.
#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include "qim/errc.h"
#include "replica/raft_records.h"
#include "replication/raft/storage.h"
#include "store/kv.h"

namespace qim::replica {

class PartitionLog final : public raft::Storage {
 public:
  // Entries kept in memory per partition (the newest); older ones are read from the store.
  static constexpr std::size_t max_cached_entries = 4096;
  static constexpr std::size_t max_cached_bytes = 8 << 20;

  PartitionLog(store::Kv& kv, PartitionId partition);

  // Reads the persisted state (a partition never seen here: everything zero, an empty log).
  Error load();
  // True when nothing was ever persisted for this partition here.
  bool empty() const { return snapshot_.index == 0 && hard_state_.term == 0; }

  // raft::Storage
  raft::HardState hard_state() const override { return hard_state_; }
  raft::SnapshotMeta snapshot() const override;
  raft::Index first_index() const override { return offset_; }
  raft::Index last_index() const override { return offset_ + count_ - 1; }
  std::optional<raft::Term> term(raft::Index index) const override;
  std::vector<raft::Entry> entries(raft::Index low, raft::Index high,
                                   std::size_t max_bytes) const override;

  // A new group's initial voter: the bootstrap snapshot point and hard state.
  void bootstrap(const raft::SnapshotMeta& meta, const raft::HardState& state,
                 store::WriteBatch& batch);
  // Stores the term and vote when either changed. The commit index is not stored on its own
  // (it moves with every commit, and nothing needs it after a restart): hard_state() after
  // load() reports it as at least the applied index, and the leader brings it up from there.
  void set_hard_state(const raft::HardState& state, store::WriteBatch& batch);
  // Deletes the entries >= entries.front().index, then appends `entries`.
  // REQUIRES: contiguous; first_index() <= entries.front().index <= last_index() + 1.
  void append(std::vector<raft::Entry> entries, store::WriteBatch& batch);
  // Entries a group of one voter committed at once, applied into this same batch: they are not
  // stored, and the log is compacted through them (in memory; what was stored of it is erased
  // in `batch`), so a single-replica partition writes each command once, as its applied state.
  // load() then starts the log after the applied point, which the batch holds.
  // REQUIRES: contiguous, entries.front().index == last_index() + 1, and every one applied
  // (set_applied) in `batch`.
  void append_applied(const std::vector<raft::Entry>& entries, store::WriteBatch& batch);
  // The applied point moved to `point` (the host adds this to the applied entry's batch).
  void set_applied(const LogPoint& point, store::WriteBatch& batch);
  const LogPoint& applied() const { return snapshot_; }
  // The log is replaced by a snapshot point: no entries, first_index() = meta.index + 1.
  void reset_to(const LogPoint& point, store::WriteBatch& batch);
  // Drops the entries below `first_kept`. REQUIRES: first_kept <= applied().index + 1.
  void compact(raft::Index first_kept, store::WriteBatch& batch);
  // Every key of this partition's Raft state, for dropping a replica; the hard state (term and
  // vote) stays behind as a tombstone that adopt_tombstone() takes up if the replica returns.
  void erase_all(store::WriteBatch& batch);
  // For a replica created here anew: the term and vote a dropped replica of this partition left
  // behind, if any, become its hard state. REQUIRES: empty().
  Error adopt_tombstone(store::WriteBatch& batch);

  PartitionId partition() const { return partition_; }

 private:
  std::optional<raft::Entry> read_entry(raft::Index index) const;
  void trim_cache();

  store::Kv& kv_;
  const PartitionId partition_;
  raft::HardState hard_state_;
  raft::HardState stored_;  // the hard state last written (its commit may lag hard_state_'s)
  LogPoint snapshot_;       // the applied point
  // Entries offset_ .. offset_ + count_ - 1 exist; the one before has term previous_term_.
  raft::Index offset_ = 1;
  raft::Index count_ = 0;
  raft::Term previous_term_ = 0;
  // The newest entries: cache_[i] has index offset_ + count_ - cache_.size() + i.
  std::deque<raft::Entry> cache_;
  std::size_t cache_bytes_ = 0;
};

}  // namespace qim::replica
