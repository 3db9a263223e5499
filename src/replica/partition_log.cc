#include "replica/partition_log.h"

#include <algorithm>

namespace qim::replica {

PartitionLog::PartitionLog(store::Kv& kv, PartitionId partition) : kv_(kv), partition_(partition) {}

Error PartitionLog::load() {
  std::string value;
  Error error = kv_.get(store::Column::raft_state, raft_keys::hard_state(partition_), value);
  if (!error) {
    if (!decode_hard_state(value, hard_state_)) {
      return {errc::internal,
              "the hard state of partition " + std::to_string(partition_) + " is corrupted"};
    }
  } else if (error.code != errc::not_found) {
    return error;
  }
  stored_ = hard_state_;
  error = kv_.get(store::Column::raft_state, raft_keys::applied(partition_), value);
  if (!error) {
    if (!decode_point(value, snapshot_)) {
      return {errc::internal,
              "the applied point of partition " + std::to_string(partition_) + " is corrupted"};
    }
  } else if (error.code != errc::not_found) {
    return error;
  }
  LogPoint compacted;
  error = kv_.get(store::Column::raft_state, raft_keys::compacted(partition_), value);
  if (!error) {
    if (!decode_point(value, compacted)) {
      return {errc::internal,
              "the compaction point of partition " + std::to_string(partition_) + " is corrupted"};
    }
  } else if (error.code != errc::not_found) {
    return error;
  }
  offset_ = compacted.index + 1;
  previous_term_ = compacted.term;
  // The last stored entry: one reverse seek over the partition's log.
  raft::Index last = compacted.index;
  bool corrupt = false;
  error = kv_.scan(store::Column::raft_log, raft_keys::partition_prefix(partition_), {}, true,
                   [&](std::string_view key, std::string_view) {
                     auto index = raft_keys::entry_index(key);
                     if (!index)
                       corrupt = true;
                     else
                       last = *index;
                     return false;
                   });
  if (error) return error;
  if (corrupt || last < compacted.index) {
    return {errc::internal, "the log of partition " + std::to_string(partition_) + " is corrupted"};
  }
  if (snapshot_.index > last) {
    // Applied past the stored log: entries taken by append_applied(), erased with it.
    offset_ = snapshot_.index + 1;
    previous_term_ = snapshot_.term;
    count_ = 0;
  } else {
    count_ = last - compacted.index;
  }
  // What was applied was committed (the stored commit index is only as new as the last term
  // or vote change).
  hard_state_.commit = std::max(hard_state_.commit, snapshot_.index);
  cache_.clear();
  cache_bytes_ = 0;
  return {};
}

raft::SnapshotMeta PartitionLog::snapshot() const {
  return raft::SnapshotMeta{snapshot_.index, snapshot_.term, snapshot_.config};
}

std::optional<raft::Entry> PartitionLog::read_entry(raft::Index index) const {
  std::string value;
  if (kv_.get(store::Column::raft_log, raft_keys::entry(partition_, index), value)) {
    return std::nullopt;
  }
  raft::Entry entry;
  if (!decode_entry(value, index, entry)) return std::nullopt;
  return entry;
}

std::optional<raft::Term> PartitionLog::term(raft::Index index) const {
  if (index + 1 == offset_) return previous_term_;
  if (index < offset_ || index > last_index()) return std::nullopt;
  raft::Index cache_from = offset_ + count_ - cache_.size();
  if (index >= cache_from) return cache_[index - cache_from].term;
  auto entry = read_entry(index);
  if (!entry) return std::nullopt;
  return entry->term;
}

std::vector<raft::Entry> PartitionLog::entries(raft::Index low, raft::Index high,
                                               std::size_t max_bytes) const {
  std::vector<raft::Entry> result;
  std::size_t bytes = 0;
  raft::Index cache_from = offset_ + count_ - cache_.size();
  raft::Index next = low;
  if (next < cache_from) {
    // From the store, then the cache.
    kv_.scan(store::Column::raft_log, raft_keys::partition_prefix(partition_),
             raft_keys::entry(partition_, next), false,
             [&](std::string_view key, std::string_view value) {
               auto index = raft_keys::entry_index(key);
               if (!index || *index != next || next >= std::min(high, cache_from)) return false;
               raft::Entry entry;
               if (!decode_entry(value, next, entry)) return false;
               std::size_t size = raft::entry_bytes(entry);
               if (!result.empty() && bytes + size > max_bytes) return false;
               bytes += size;
               result.push_back(std::move(entry));
               ++next;
               return true;
             });
    if (next < std::min(high, cache_from)) return result;  // a byte limit, or a short read
  }
  for (; next < high; ++next) {
    const raft::Entry& entry = cache_[next - cache_from];
    std::size_t size = raft::entry_bytes(entry);
    if (!result.empty() && bytes + size > max_bytes) break;
    bytes += size;
    result.push_back(entry);
  }
  return result;
}

Error PartitionLog::adopt_tombstone(store::WriteBatch& batch) {
  std::string value;
  Error error = kv_.get(store::Column::raft_state, raft_keys::tombstone(partition_), value);
  if (error.code == errc::not_found) return {};
  if (error) return error;
  raft::HardState kept;
  if (!decode_hard_state(value, kept)) {
    return {errc::internal,
            "the replica tombstone of partition " + std::to_string(partition_) + " is corrupted"};
  }
  set_hard_state(kept, batch);
  batch.erase(store::Column::raft_state, raft_keys::tombstone(partition_));
  return {};
}

void PartitionLog::bootstrap(const raft::SnapshotMeta& meta, const raft::HardState& state,
                             store::WriteBatch& batch) {
  reset_to(LogPoint{meta.index, meta.term, meta.config}, batch);
  set_hard_state(state, batch);
}

void PartitionLog::set_hard_state(const raft::HardState& state, store::WriteBatch& batch) {
  hard_state_ = state;
  // Term and vote must be on disk before any message that depends on them leaves; the commit
  // index need not be (Raft recovers it from the leader), and writing it on every commit was
  // most of this column's writes.
  if (state.term == stored_.term && state.vote == stored_.vote && stored_.term != 0) return;
  stored_ = state;
  batch.put(store::Column::raft_state, raft_keys::hard_state(partition_), encode_hard_state(state));
}

void PartitionLog::append(std::vector<raft::Entry> entries, store::WriteBatch& batch) {
  if (entries.empty()) return;
  raft::Index first = entries.front().index;
  raft::Index last = last_index();
  if (first <= last) {
    // A conflicting suffix: delete it, in the store and in the cache.
    batch.erase_range(store::Column::raft_log, raft_keys::entry(partition_, first),
                      raft_keys::entry(partition_, last + 1));
    raft::Index removed = last - first + 1;
    count_ -= removed;
    while (removed-- > 0 && !cache_.empty()) {
      cache_bytes_ -= raft::entry_bytes(cache_.back());
      cache_.pop_back();
    }
  }
  // If the cache no longer reaches the end of the log (entries were removed below it), start it
  // afresh: it must always hold the newest entries.
  if (cache_.size() > count_) cache_.clear(), cache_bytes_ = 0;
  raft::Index cache_from = offset_ + count_ - cache_.size();
  if (!cache_.empty() && cache_from + cache_.size() != first) cache_.clear(), cache_bytes_ = 0;
  for (raft::Entry& entry : entries) {
    batch.put(store::Column::raft_log, raft_keys::entry(partition_, entry.index),
              encode_entry(entry));
    ++count_;
    cache_bytes_ += raft::entry_bytes(entry);
    cache_.push_back(std::move(entry));
  }
  trim_cache();
}

void PartitionLog::append_applied(const std::vector<raft::Entry>& entries,
                                  store::WriteBatch& batch) {
  if (entries.empty()) return;
  if (count_ > 0) {
    batch.erase_range(store::Column::raft_log, raft_keys::entry(partition_, offset_),
                      raft_keys::entry(partition_, last_index() + 1));
  }
  offset_ = entries.back().index + 1;
  previous_term_ = entries.back().term;
  count_ = 0;
  cache_.clear();
  cache_bytes_ = 0;
}

void PartitionLog::trim_cache() {
  while (!cache_.empty() &&
         (cache_.size() > max_cached_entries || cache_bytes_ > max_cached_bytes)) {
    cache_bytes_ -= raft::entry_bytes(cache_.front());
    cache_.pop_front();
  }
}

void PartitionLog::set_applied(const LogPoint& point, store::WriteBatch& batch) {
  snapshot_ = point;
  batch.put(store::Column::raft_state, raft_keys::applied(partition_), encode_point(point));
}

void PartitionLog::reset_to(const LogPoint& point, store::WriteBatch& batch) {
  batch.erase_range(store::Column::raft_log, raft_keys::entry(partition_, 0),
                    raft_keys::partition_end(partition_));
  offset_ = point.index + 1;
  count_ = 0;
  previous_term_ = point.term;
  cache_.clear();
  cache_bytes_ = 0;
  batch.put(store::Column::raft_state, raft_keys::compacted(partition_),
            encode_point(LogPoint{point.index, point.term, {}}));
  set_applied(point, batch);
}

void PartitionLog::compact(raft::Index first_kept, store::WriteBatch& batch) {
  if (first_kept <= offset_) return;
  first_kept = std::min(first_kept, last_index() + 1);
  auto last_dropped_term = term(first_kept - 1);
  if (!last_dropped_term) return;
  batch.erase_range(store::Column::raft_log, raft_keys::entry(partition_, offset_),
                    raft_keys::entry(partition_, first_kept));
  batch.put(store::Column::raft_state, raft_keys::compacted(partition_),
            encode_point(LogPoint{first_kept - 1, *last_dropped_term, {}}));
  raft::Index dropped = first_kept - offset_;
  previous_term_ = *last_dropped_term;
  offset_ = first_kept;
  count_ -= dropped;
  while (cache_.size() > count_) {
    cache_bytes_ -= raft::entry_bytes(cache_.front());
    cache_.pop_front();
  }
}

void PartitionLog::erase_all(store::WriteBatch& batch) {
  for (store::Column column : {store::Column::raft_log, store::Column::raft_state}) {
    batch.erase_range(column, raft_keys::partition_prefix(partition_),
                      raft_keys::partition_end(partition_));
  }
  raft::HardState kept{hard_state_.term, hard_state_.vote, 0};
  batch.put(store::Column::raft_state, raft_keys::tombstone(partition_), encode_hard_state(kept));
  hard_state_ = {};
  stored_ = {};
  snapshot_ = {};
  offset_ = 1;
  count_ = 0;
  previous_term_ = 0;
  cache_.clear();
  cache_bytes_ = 0;
}

}  // namespace qim::replica
