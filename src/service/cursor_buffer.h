#pragma once
// Read cursors between an Ack and the store. An Ack is answered as soon as its cursor is here;
// the newest cursor of each (user, device, conversation) is proposed later, many to one command
// per partition (flush), every few hundred milliseconds, at logout and at shutdown. Readers of
// cursors (Sync) take the higher of this buffer's value and the store's: an Ack is buffered
// without reading the store, so either may be ahead.
//
// What a crash costs: the cursor moves of the last flush interval, so a client is handed again
// messages it had read, which it drops by seq. Never a message, and never a cursor moving
// backwards (apply keeps the higher of the stored and the proposed value).
//
// Per partition, each entry has a `pending` value (not proposed yet), an `in_flight` one
// (proposed, not applied yet) and a `stored` one (applied by this leader: the store holds it),
// so that an Ack that moves nothing is not proposed again. Entries with only a stored value are
// a cache, dropped first when the buffer is full. A partition this node starts or stops leading
// is forgotten: while another node leads, the store may move past what this one knew.
//
// A partition is sealed from the moment its leader starts handing it over (its buffered cursors
// are taken as the last commands of its leadership) until this node leads it again: an Ack
// buffered after that take would be answered and then dropped with the leadership. raise()
// refuses on a sealed partition; the caller proposes the cursor on its own, which the handover
// either carries or refuses.
//
// Thread-safety: thread-safe; one mutex per partition. Bounded: at most max_entries entries in
// all; raise() refuses beyond, once no cached entry is left to drop (the caller then proposes
// that cursor on its own).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "route/partitions.h"
#include "service/commands.h"
#include "service/types.h"

namespace qim::service {

using route::PartitionId;

struct CursorMove {
  std::string user;
  std::string device;
  std::string conversation;
  std::uint64_t seq = 0;
};

class CursorBuffer {
 public:
  static constexpr std::size_t default_max_entries = 1 << 20;

  CursorBuffer(std::uint32_t partitions, std::size_t max_entries = default_max_entries);

  // Records `move` (keyed by `key`, its store key) unless a value at least as high is here;
  // its strings are copied only when `key` is new. Returns false when the partition is sealed,
  // or when the buffer is full and `key` is not in it.
  bool raise(PartitionId partition, std::string_view key, const CursorView& move);
  // The highest value buffered for `key` (pending, in flight or stored by this leader), if any.
  // The store may hold a higher one, written before this leader buffered the key.
  std::optional<std::uint64_t> read(PartitionId partition, std::string_view key) const;

  // The pending moves of `partition`, now in flight; at most `limit` of them (the rest stay
  // pending). Their keys come back in `keys`, to hand to settle().
  std::vector<CursorMove> take(PartitionId partition, std::size_t limit,
                               std::vector<std::string>& keys);
  // The command carrying `keys` (taken from `partition`) applied (ok) or not: their in-flight
  // values are released; a failed one returns to pending unless a newer value is pending.
  void settle(PartitionId partition, const std::vector<std::string>& keys,
              const std::vector<CursorMove>& moves, bool ok);
  // Drops every entry of `partition` (this node no longer leads it), or those whose key starts
  // with `prefix` (a deleted user's).
  void forget(PartitionId partition);
  void forget(PartitionId partition, std::string_view prefix);
  // Seals `partition` (raise() refuses) or opens it again. Partitions start open.
  void seal(PartitionId partition, bool sealed);
  bool sealed(PartitionId partition) const;

  std::size_t entries() const;
  std::size_t pending(PartitionId partition) const;
  // Commands proposed by take() and not settled yet, over all partitions.
  std::size_t in_flight() const;

 private:
  struct Entry {
    CursorMove move;              // move.seq: the pending value (0: none pending)
    std::uint64_t in_flight = 0;  // the value proposed and not applied yet (0: none)
    std::uint64_t stored = 0;     // applied by a command of this buffer (0: unknown)
  };
  // Looks keys up by view: no string is made to find one.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const {
      return std::hash<std::string_view>{}(key);
    }
  };
  struct Partition {
    mutable std::mutex mutex;
    // By store key; GUARDED_BY(mutex).
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
    std::vector<std::string> pending;  // keys with move.seq != 0, oldest first
    bool sealed = false;
  };
  Partition& at(PartitionId partition) const { return *partitions_[partition]; }
  // Drops the cached entries (stored only) of `part`, the partition that needs room; true if
  // some went. REQUIRES: its mutex.
  bool drop_cached(Partition& part);

  const std::size_t max_entries_;
  std::vector<std::unique_ptr<Partition>> partitions_;
  // Entries in all partitions; only changed under a partition's mutex, read anywhere.
  std::atomic<std::size_t> total_{0};
  std::atomic<std::size_t> commands_{0};
};

}  // namespace qim::service
