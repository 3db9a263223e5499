#pragma once
// Storage: the shell's persisted log and state, read-only to the core.
//
// The core reads it when it is constructed and whenever it needs an entry or a term that is no
// longer in its unstable tail; it never caches what it read across calls, so the shell may
// write (append a Ready's entries, install a snapshot, compact) between calls into the Node.
// Threading: called only from inside Node's methods, on the thread that drives the Node.
#include <cstddef>
#include <optional>
#include <vector>

#include "replication/raft/types.h"

namespace qim::replication::raft {

class Storage {
 public:
  virtual ~Storage() = default;

  // The persisted term, vote and commit index. Read once, at construction.
  virtual HardState hard_state() const = 0;

  // The meta of the state machine's current snapshot point: index, term and configuration as of
  // the last applied entry the shell can snapshot. Entries <= snapshot().index may be gone from
  // the log; everything after it must still be there. A brand-new replica that has never
  // been part of the group answers {0, 0, {}}; a group is created by giving each initial voter
  // bootstrap_snapshot() (node.h).
  virtual SnapshotMeta snapshot() const = 0;

  // The first entry still in the log (>= 1). first_index() <= snapshot().index + 1.
  virtual Index first_index() const = 0;
  // The last entry in the log, or snapshot().index when the log after it is empty.
  virtual Index last_index() const = 0;

  // The term of entry i, for snapshot().index <= i <= last_index() (and for any older entry still
  // in the log); nullopt when compacted or beyond the end.
  virtual std::optional<Term> term(Index i) const = 0;

  // Entries [low, high), at most max_bytes in total by entry_bytes() but at least one.
  // REQUIRES: first_index() <= low < high <= last_index() + 1.
  virtual std::vector<Entry> entries(Index low, Index high, std::size_t max_bytes) const = 0;
};

}  // namespace qim::replication::raft
