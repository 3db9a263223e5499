#include "replication/raft/memory_storage.h"

#include <cstdio>
#include <cstdlib>

namespace qim::replication::raft {
namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "raft memory storage: %s\n", what);
  std::abort();
}

}  // namespace

MemoryStorage::MemoryStorage(const SnapshotMeta& snapshot, const HardState& hard_state)
    : hard_state_(hard_state),
      snapshot_(snapshot),
      offset_(snapshot.index + 1),
      previous_term_(snapshot.term) {}

std::optional<Term> MemoryStorage::term(Index i) const {
  if (i + 1 == offset_) return previous_term_;
  if (i == snapshot_.index) return snapshot_.term;
  if (i < offset_ || i > last_index()) return std::nullopt;
  return entries_[i - offset_].term;
}

std::vector<Entry> MemoryStorage::entries(Index low, Index high, std::size_t max_bytes) const {
  require(offset_ <= low && low < high && high <= last_index() + 1, "entries out of range");
  std::vector<Entry> out;
  std::size_t bytes = 0;
  for (Index i = low; i < high; ++i) {
    const Entry& entry = entries_[i - offset_];
    bytes += entry_bytes(entry);
    if (!out.empty() && bytes > max_bytes) break;
    out.push_back(entry);
  }
  return out;
}

void MemoryStorage::append(std::vector<Entry> entries) {
  if (entries.empty()) return;
  const Index first = entries.front().index;
  require(offset_ <= first && first <= last_index() + 1, "append out of range");
  entries_.resize(first - offset_);
  for (Entry& entry : entries) {
    require(entry.index == offset_ + entries_.size(), "append not contiguous");
    entries_.push_back(std::move(entry));
  }
}

void MemoryStorage::install_snapshot(const SnapshotMeta& meta) {
  snapshot_ = meta;
  entries_.clear();
  offset_ = meta.index + 1;
  previous_term_ = meta.term;
}

void MemoryStorage::compact(Index first_kept) {
  require(first_kept <= snapshot_.index + 1, "compaction beyond the snapshot point");
  if (first_kept <= offset_) return;
  previous_term_ = *term(first_kept - 1);
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<std::ptrdiff_t>(first_kept - offset_));
  offset_ = first_kept;
}

}  // namespace qim::replication::raft
