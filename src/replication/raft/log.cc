#include "replication/raft/log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace qim::replication::raft {
namespace {

[[noreturn]] void fatal(const char* what, Index a, Index b) {
  std::fprintf(stderr, "raft log: %s (%llu, %llu)\n", what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}

// Chunk size when scanning stored entries for config changes.
constexpr std::size_t kScanBytes = 1 << 20;

}  // namespace

RaftLog::RaftLog(const Storage& storage, Index committed, Index applied)
    : storage_(storage),
      offset_(storage.last_index() + 1),
      offset_in_progress_(offset_),
      committed_(committed),
      applying_(applied),
      applied_(applied) {
  if (applied > committed || committed > storage.last_index()) {
    fatal("applied <= committed <= last index does not hold at start", applied, committed);
  }
}

Index RaftLog::first_index() const {
  if (snapshot_) return snapshot_->index + 1;
  return std::min(storage_.first_index(), offset_);
}

Index RaftLog::last_index() const {
  return offset_ + unstable_.size() - 1;
}

Term RaftLog::last_term() const {
  const std::optional<Term> last = term(last_index());
  if (!last) fatal("the term of the last entry is unknown", last_index(), 0);
  return *last;
}

std::optional<Term> RaftLog::term(Index i) const {
  if (i >= offset_) {
    if (i - offset_ < unstable_.size()) return tail_at(i).term;
    return std::nullopt;
  }
  if (snapshot_) {
    if (i == snapshot_->index) return snapshot_->term;
    return std::nullopt;
  }
  return storage_.term(i);
}

bool RaftLog::is_up_to_date(Index index, Term term) const {
  const Term ours = last_term();
  return term > ours || (term == ours && index >= last_index());
}

void RaftLog::entries(Index low, Index high, std::size_t max_bytes, std::vector<Entry>& out) const {
  if (low < first_index() || low >= high || high > last_index() + 1) {
    fatal("entries out of range", low, high);
  }
  const std::size_t start_size = out.size();
  std::size_t bytes = 0;
  if (low < offset_) {
    const Index stored_high = std::min(high, offset_);
    std::vector<Entry> stored = storage_.entries(low, stored_high, max_bytes);
    if (stored.empty() || stored.front().index != low) fatal("storage returned no entries", low, 0);
    for (Entry& entry : stored) {
      bytes += entry_bytes(entry);
      out.push_back(std::move(entry));
    }
    if (out.size() - start_size < stored_high - low) return;  // size limit reached
    low = stored_high;
  }
  for (Index i = low; i < high; ++i) {
    const Entry& entry = tail_at(i);
    bytes += entry_bytes(entry);
    if (out.size() > start_size && bytes > max_bytes) return;
    out.push_back(entry);
  }
}

std::optional<Index> RaftLog::maybe_append(Index index, Term log_term,
                                           std::vector<Entry>&& entries) {
  if (!match_term(index, log_term)) return std::nullopt;
  const Index last_new = index + entries.size();
  // The first entry that is new or differs from ours; everything before it we already have.
  std::size_t from = 0;
  while (from < entries.size() && match_term(entries[from].index, entries[from].term))
    ++from;
  if (from < entries.size()) {
    if (entries[from].index <= committed_) {
      fatal("an append would overwrite a committed entry", entries[from].index, committed_);
    }
    truncate_and_append(entries, from);
  }
  return last_new;
}

void RaftLog::append(Entry&& entry) {
  if (entry.index != last_index() + 1) fatal("leader append not contiguous", entry.index, 0);
  unstable_.push_back(std::move(entry));
}

void RaftLog::truncate_and_append(std::vector<Entry>& entries, std::size_t from) {
  const Index first = entries[from].index;
  const Index end = offset_ + unstable_.size();
  if (first == end) {
    // Plain append.
  } else if (first <= offset_) {
    // Replaces stable entries too: the shell deletes its entries from `first` on when it
    // persists the next Ready, which starts at `first`.
    if (snapshot_ && first <= snapshot_->index) fatal("append below the snapshot", first, 0);
    unstable_.clear();
    offset_ = first;
    offset_in_progress_ = first;
  } else if (first < end) {
    unstable_.erase(unstable_.begin() + static_cast<std::ptrdiff_t>(first - offset_),
                    unstable_.end());
    offset_in_progress_ = std::min(offset_in_progress_, first);
  } else {
    fatal("append leaves a gap", first, end);
  }
  for (std::size_t i = from; i < entries.size(); ++i)
    unstable_.push_back(std::move(entries[i]));
}

std::pair<Index, Term> RaftLog::find_conflict_by_term(Index index, Term term) const {
  index = std::min(index, last_index());
  // The lowest index whose term we know: the snapshot point, or the first stored entry.
  Index low = first_index() - 1;
  std::optional<Term> low_term = this->term(low);
  if (!low_term) {
    ++low;
    low_term = this->term(low);
  }
  if (index < low || !low_term) return {index, 0};
  if (*low_term > term) return {low, 0};
  // Terms never decrease along the log: binary search for the last index with term <= `term`.
  Index found = low;
  Term found_term = *low_term;
  Index high = index;
  while (found < high) {
    const Index middle = found + (high - found + 1) / 2;
    const Term middle_term = *this->term(middle);
    if (middle_term <= term) {
      found = middle;
      found_term = middle_term;
    } else {
      high = middle - 1;
    }
  }
  return {found, found_term};
}

void RaftLog::commit_to(Index index) {
  if (index <= committed_) return;
  if (index > last_index()) fatal("commit beyond the last entry", index, last_index());
  committed_ = index;
}

void RaftLog::restore(const SnapshotMeta& meta) {
  if (meta.index <= committed_) fatal("restoring an old snapshot", meta.index, committed_);
  snapshot_ = meta;
  snapshot_in_progress_ = false;
  unstable_.clear();
  offset_ = meta.index + 1;
  offset_in_progress_ = offset_;
  committed_ = meta.index;
  applying_ = meta.index;
}

bool RaftLog::has_config_change_in(Index after, Index through) const {
  through = std::min(through, last_index());
  Index next = std::max(after + 1, first_index());
  std::vector<Entry> chunk;
  while (next <= through) {
    chunk.clear();
    entries(next, through + 1, kScanBytes, chunk);
    for (const Entry& entry : chunk) {
      if (entry.kind == EntryKind::config_change) return true;
    }
    next = chunk.back().index + 1;
  }
  return false;
}

void RaftLog::take_entries_to_persist(std::vector<Entry>& out) {
  const Index end = offset_ + unstable_.size();
  for (Index i = offset_in_progress_; i < end; ++i)
    out.push_back(tail_at(i));
  offset_in_progress_ = end;
}

const SnapshotMeta& RaftLog::take_snapshot_to_persist() {
  snapshot_in_progress_ = true;
  return *snapshot_;
}

void RaftLog::take_committed(std::size_t max_bytes, std::vector<Entry>& out) {
  if (committed_ <= applying_) return;
  const std::size_t start_size = out.size();
  entries(applying_ + 1, committed_ + 1, max_bytes, out);
  if (out.size() > start_size) applying_ = out.back().index;
}

void RaftLog::stable_to(Index index, Term term) {
  // Only entries handed out can have been persisted; and a snapshot below them goes first.
  if (snapshot_ || index < offset_ || index >= offset_in_progress_) return;
  if (tail_at(index).term != term) return;  // replaced by a later append meanwhile
  unstable_.erase(unstable_.begin(),
                  unstable_.begin() + static_cast<std::ptrdiff_t>(index + 1 - offset_));
  offset_ = index + 1;
}

void RaftLog::stable_snapshot_to(Index index) {
  if (snapshot_ && snapshot_in_progress_ && snapshot_->index == index) snapshot_.reset();
}

void RaftLog::applied_to(Index index) {
  if (index > applying_) fatal("applied beyond what was handed out", index, applying_);
  applied_ = std::max(applied_, index);
}

std::string RaftLog::check_invariants() const {
  if (!(applied_ <= applying_ && applying_ <= committed_ && committed_ <= last_index())) {
    return "applied <= applying <= committed <= last index";
  }
  if (!(offset_ <= offset_in_progress_ && offset_in_progress_ <= offset_ + unstable_.size())) {
    return "offset <= offset in progress <= end of the tail";
  }
  if (snapshot_ && offset_ != snapshot_->index + 1) return "unstable snapshot right below the tail";
  if (snapshot_ && committed_ < snapshot_->index) return "unstable snapshot is committed";
  if (!snapshot_ && offset_ > storage_.last_index() + 1) return "tail starts after stored log";
  if (!unstable_.empty()) {
    const std::optional<Term> before = term(offset_ - 1);
    if (before && *before > unstable_.front().term) return "tail term below the entry before it";
  }
  for (std::size_t k = 0; k < unstable_.size(); ++k) {
    if (unstable_[k].index != offset_ + k) return "tail not contiguous";
    if (k > 0 && unstable_[k - 1].term > unstable_[k].term) return "tail terms decrease";
  }
  return {};
}

}  // namespace qim::replication::raft
