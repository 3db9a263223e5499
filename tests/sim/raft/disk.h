#pragma once
// What one replica has on disk in the simulation, written the way the real shell will write it:
// the Raft log and hard state, and the state machine with its applied index and configuration.
//
// Durability: writes go to the live state at once. In power-loss mode they are also journaled
// until sync(); lose_unsynced() then puts the state back to the last sync, as a power cut drops
// what the disk had not flushed. In process-crash mode (kill -9) every write survives.
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "replication/raft/storage.h"
#include "tests/sim/raft/messaging.h"

namespace qim::sim::raft {

namespace consensus = qim::replication::raft;

struct ReplicaState {
  consensus::HardState hard_state;
  // log[k] has index offset + k; the entry before offset has term previous_term.
  std::deque<consensus::Entry> log;
  consensus::Index offset = 1;
  consensus::Term previous_term = 0;
  // The state machine, the last entry applied to it and the configuration as of that entry.
  MessagingState machine;
  consensus::Index applied_index = 0;
  consensus::Term applied_term = 0;
  consensus::Configuration applied_config;

  consensus::Index last_index() const { return offset + log.size() - 1; }
};

// One write. Appends delete the entries from entries.front().index on first.
struct DiskWrite {
  enum class Kind : std::uint8_t { hard_state, append, install_snapshot, apply, compact };
  Kind kind = Kind::hard_state;
  consensus::HardState hard_state;
  std::vector<consensus::Entry> entries;  // append; apply: exactly one
  consensus::SnapshotMeta snapshot;
  std::shared_ptr<const MessagingState> machine;  // install_snapshot
  consensus::Index first_kept = 0;                // compact
};

class ReplicaDisk {
 public:
  explicit ReplicaDisk(bool power_loss_mode) {
    if (power_loss_mode) durable_.emplace();
  }
  // A new group's initial voter, or an empty replica about to join.
  void bootstrap(const consensus::Configuration& config);

  void write(DiskWrite write);
  void sync();
  // A power cut: everything since the last sync is gone (a no-op in process-crash mode).
  void lose_unsynced();
  std::size_t unsynced_writes() const { return journal_.size(); }

  const ReplicaState& state() const { return live_; }

 private:
  ReplicaState live_;
  std::optional<ReplicaState> durable_;
  std::vector<DiskWrite> journal_;
};

// Storage over a disk's live state. Storage::snapshot() is the state machine's applied point.
class DiskStorage final : public consensus::Storage {
 public:
  explicit DiskStorage(const ReplicaDisk& disk) : disk_(disk) {}

  consensus::HardState hard_state() const override { return disk_.state().hard_state; }
  consensus::SnapshotMeta snapshot() const override;
  consensus::Index first_index() const override { return disk_.state().offset; }
  consensus::Index last_index() const override { return disk_.state().last_index(); }
  std::optional<consensus::Term> term(consensus::Index i) const override;
  std::vector<consensus::Entry> entries(consensus::Index low, consensus::Index high,
                                        std::size_t max_bytes) const override;

 private:
  const ReplicaDisk& disk_;
};

}  // namespace qim::sim::raft
