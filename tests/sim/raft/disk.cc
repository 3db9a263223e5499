#include "tests/sim/raft/disk.h"

#include <cstdio>
#include <cstdlib>

#include "replication/raft/codec.h"
#include "replication/raft/configuration.h"
#include "replication/raft/node.h"

namespace qim::sim::raft {
namespace {

[[noreturn]] void disk_fatal(const char* what) {
  std::fprintf(stderr, "simulated disk: %s\n", what);
  std::abort();
}

void apply_write(ReplicaState& state, const DiskWrite& write) {
  switch (write.kind) {
    case DiskWrite::Kind::hard_state:
      state.hard_state = write.hard_state;
      break;
    case DiskWrite::Kind::append: {
      const consensus::Index first = write.entries.front().index;
      if (first < state.offset || first > state.last_index() + 1) disk_fatal("append out of range");
      state.log.resize(first - state.offset);
      for (const consensus::Entry& entry : write.entries)
        state.log.push_back(entry);
      break;
    }
    case DiskWrite::Kind::install_snapshot:
      state.log.clear();
      state.offset = write.snapshot.index + 1;
      state.previous_term = write.snapshot.term;
      state.machine = *write.machine;
      state.applied_index = write.snapshot.index;
      state.applied_term = write.snapshot.term;
      state.applied_config = write.snapshot.config;
      break;
    case DiskWrite::Kind::apply: {
      const consensus::Entry& entry = write.entries.front();
      if (entry.index != state.applied_index + 1) disk_fatal("apply out of order");
      if (entry.kind == consensus::EntryKind::config_change) {
        consensus::ConfigChange change;
        if (consensus::decode(entry.data, change))
          consensus::apply_change(state.applied_config, change);
      } else if (!entry.data.empty()) {
        SendCommand command;
        if (!decode(entry.data, command)) disk_fatal("undecodable command");
        state.machine.apply(command);
      }
      state.applied_index = entry.index;
      state.applied_term = entry.term;
      break;
    }
    case DiskWrite::Kind::compact: {
      if (write.first_kept <= state.offset) break;
      if (write.first_kept > state.applied_index + 1) disk_fatal("compaction beyond applied");
      const std::size_t drop = write.first_kept - state.offset;
      state.previous_term = state.log[drop - 1].term;
      state.log.erase(state.log.begin(), state.log.begin() + static_cast<std::ptrdiff_t>(drop));
      state.offset = write.first_kept;
      break;
    }
  }
}

}  // namespace

void ReplicaDisk::bootstrap(const consensus::Configuration& config) {
  ReplicaState state;
  if (!config.voters.empty()) {
    const consensus::SnapshotMeta meta = consensus::bootstrap_snapshot(config);
    state.hard_state = consensus::bootstrap_hard_state();
    state.offset = meta.index + 1;
    state.previous_term = meta.term;
    state.applied_index = meta.index;
    state.applied_term = meta.term;
    state.applied_config = meta.config;
  }
  live_ = state;
  if (durable_) durable_ = state;
  journal_.clear();
}

void ReplicaDisk::write(DiskWrite write) {
  apply_write(live_, write);
  if (durable_) journal_.push_back(std::move(write));
}

void ReplicaDisk::sync() {
  if (!durable_) return;
  for (const DiskWrite& write : journal_)
    apply_write(*durable_, write);
  journal_.clear();
}

void ReplicaDisk::lose_unsynced() {
  if (!durable_) return;
  live_ = *durable_;
  journal_.clear();
}

consensus::SnapshotMeta DiskStorage::snapshot() const {
  const ReplicaState& state = disk_.state();
  return consensus::SnapshotMeta{state.applied_index, state.applied_term, state.applied_config};
}

std::optional<consensus::Term> DiskStorage::term(consensus::Index i) const {
  const ReplicaState& state = disk_.state();
  if (i + 1 == state.offset) return state.previous_term;
  if (i < state.offset || i > state.last_index()) return std::nullopt;
  return state.log[i - state.offset].term;
}

std::vector<consensus::Entry> DiskStorage::entries(consensus::Index low, consensus::Index high,
                                                   std::size_t max_bytes) const {
  const ReplicaState& state = disk_.state();
  if (low < state.offset || low >= high || high > state.last_index() + 1) {
    disk_fatal("entries out of range");
  }
  std::vector<consensus::Entry> out;
  std::size_t bytes = 0;
  for (consensus::Index i = low; i < high; ++i) {
    const consensus::Entry& entry = state.log[i - state.offset];
    bytes += consensus::entry_bytes(entry);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(entry);
  }
  return out;
}

}  // namespace qim::sim::raft
