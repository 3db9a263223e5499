#pragma once
// RaftLog: the replica's log as the core sees it, the shell's stable Storage plus an unstable
// tail (entries and possibly a received snapshot) that has not been persisted yet, and the
// commit and apply positions.
//
// Reads at or above the unstable offset come from the tail only; reads below it come from
// Storage, which holds exactly the core's log there (the shell never writes anything the core
// did not hand it). While an unstable snapshot exists, nothing at or below it is readable.
//
// Ready bookkeeping: the tail splits into entries already handed to the shell (being written)
// and entries not handed out yet; committed entries split the same way at `applying`.
//
// Invariants (invariants_hold): applied <= applying <= committed <= last_index(); the tail is
// contiguous with non-decreasing terms; an unstable snapshot sits right below the tail.
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "replication/raft/storage.h"

namespace qim::replication::raft {

class RaftLog {
 public:
  // REQUIRES: applied <= committed <= storage.last_index().
  RaftLog(const Storage& storage, Index committed, Index applied);

  // The first entry readable (the entry after the snapshot point while one is unstable).
  Index first_index() const;
  Index last_index() const;
  Term last_term() const;
  // nullopt when compacted (below the snapshot point) or beyond the end.
  std::optional<Term> term(Index i) const;
  bool match_term(Index i, Term t) const {
    const std::optional<Term> ours = term(i);
    return ours && *ours == t;
  }
  // Whether a log ending at (index, term) is at least as up to date as ours.
  bool is_up_to_date(Index index, Term term) const;

  // Entries [low, high), at most max_bytes but at least one, appended to `out`.
  // REQUIRES: first_index() <= low < high <= last_index() + 1.
  void entries(Index low, Index high, std::size_t max_bytes, std::vector<Entry>& out) const;

  // A follower's append: if our entry at `index` has term `log_term`, writes `entries` after it
  // (truncating a conflicting suffix) and returns the index of the last entry of the append;
  // otherwise returns nullopt. Aborts if a committed entry would be overwritten.
  std::optional<Index> maybe_append(Index index, Term log_term, std::vector<Entry>&& entries);
  // The leader's append. REQUIRES: entry.index == last_index() + 1, its term >= last_term().
  void append(Entry&& entry);

  // The largest index <= `index` whose term is <= `term`, with that term; (i, 0) when the terms
  // around i are unknown (compacted). Used by both ends of a rejected append to skip whole terms.
  std::pair<Index, Term> find_conflict_by_term(Index index, Term term) const;

  // REQUIRES: index <= last_index(). Never moves backwards.
  void commit_to(Index index);
  // Replaces the log with a snapshot point (the follower installs it): committed = meta.index.
  // REQUIRES: meta.index > committed().
  void restore(const SnapshotMeta& meta);

  Index committed() const { return committed_; }
  Index applying() const { return applying_; }
  Index applied() const { return applied_; }

  // Whether some config_change entry lies in (after, through]. O(entries scanned).
  bool has_config_change_in(Index after, Index through) const;

  // ---- Ready support (node.cc) --------------------------------------------------------------
  bool has_entries_to_persist() const { return offset_in_progress_ < offset_ + unstable_.size(); }
  bool has_snapshot_to_persist() const { return snapshot_ && !snapshot_in_progress_; }
  bool has_committed_to_hand_out() const { return committed_ > applying_; }
  const std::optional<SnapshotMeta>& unstable_snapshot() const { return snapshot_; }

  // Copies the tail entries not yet handed out into `out` and marks them handed out.
  void take_entries_to_persist(std::vector<Entry>& out);
  // Marks the unstable snapshot handed out. REQUIRES: has_snapshot_to_persist().
  const SnapshotMeta& take_snapshot_to_persist();
  // Appends committed entries after `applying` (at most max_bytes, at least one) to `out` and
  // moves `applying` past them.
  void take_committed(std::size_t max_bytes, std::vector<Entry>& out);

  // The shell persisted the entries handed out up to (index, term): they leave the tail, unless
  // a later append replaced that entry meanwhile.
  void stable_to(Index index, Term term);
  // The shell installed the snapshot handed out at `index`.
  void stable_snapshot_to(Index index);
  // The shell applied everything handed out up to `index`.
  void applied_to(Index index);

  // Empty when the invariants hold; otherwise says which one does not.
  std::string check_invariants() const;

 private:
  Entry& tail_at(Index i) { return unstable_[i - offset_]; }
  const Entry& tail_at(Index i) const { return unstable_[i - offset_]; }
  // Writes `entries[from...]` into the tail, replacing whatever is at or after their index.
  void truncate_and_append(std::vector<Entry>& entries, std::size_t from);

  const Storage& storage_;
  std::optional<SnapshotMeta> snapshot_;
  bool snapshot_in_progress_ = false;
  // The unstable tail: unstable_[k] has index offset_ + k. offset_ is last_index() + 1 when the
  // tail is empty. Entries below offset_in_progress_ have been handed out in a Ready.
  std::deque<Entry> unstable_;
  Index offset_ = 1;
  Index offset_in_progress_ = 1;
  Index committed_ = 0;
  Index applying_ = 0;
  Index applied_ = 0;
};

}  // namespace qim::replication::raft
