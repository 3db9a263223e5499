#pragma once
// The storage seam: an ordered key-value store with column families. RocksKv is the real one,
// MemoryKv the one tests and the simulator use. Records on top are FlatBuffers (store.fbs).
//
// Thread-safety: every method may be called from any thread concurrently.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "qim/errc.h"

namespace qim::store {

// One column family per kind of record (DESIGN §5). Key layouts are in schemas/README.md;
// every key of a data column (all but meta) starts with its partition, <p> (2 bytes).
enum class Column : std::uint8_t {
  accounts = 0,  // <p> <user>
  friends,       // <p> <user> \0 <other>
  convs,         // <p> <user> \0 <conversation>
  cursors,       // <p> <user> \0 <conversation> \0 <device>
  groups,        // <p> <group>
  members,       // <p> <group> \0 <user>
  log,           // <p> <conversation> \0 <seq:be64>
  dedup,         // <p> <conversation> \0 <sender> \0 <client_msg_id:be64>
  meta,          // node-local settings (format version, node identity)
  raft_log,      // <partition:be16> <index:be64>: the partition's Raft log (replica/)
  raft_state,    // <partition:be16> <tag>: the partition's Raft hard state and applied point
  staging,       // <partition:be16> <column:u8> <key>: a received snapshot before it is installed
};
inline constexpr std::size_t column_count = 12;

// The columns that hold a partition's replicated state (every key starts with the partition as
// two bytes big-endian): what a snapshot of a partition copies, and what dropping a replica
// erases along with its Raft state.
inline constexpr Column data_columns[] = {Column::accounts, Column::friends, Column::convs,
                                          Column::cursors,  Column::groups,  Column::members,
                                          Column::log,      Column::dedup};
const char* column_name(Column column) noexcept;

// A set of writes applied atomically. Reusable: clear() keeps the allocations.
class WriteBatch {
 public:
  enum class Kind : std::uint8_t { put, erase, erase_range };
  struct Op {
    Column column;
    Kind kind;
    std::string key;
    std::string value;  // put: the value; erase_range: the end key (exclusive)
  };

  void put(Column column, std::string_view key, std::string_view value) {
    Op& op = next();
    op.column = column;
    op.kind = Kind::put;
    op.key.assign(key);
    op.value.assign(value);
  }
  void put(Column column, std::string_view key, std::span<const std::uint8_t> value) {
    put(column, key, std::string_view(reinterpret_cast<const char*>(value.data()), value.size()));
  }
  void erase(Column column, std::string_view key) {
    Op& op = next();
    op.column = column;
    op.kind = Kind::erase;
    op.key.assign(key);
    op.value.clear();
  }
  // Erases every key in [begin, end). REQUIRES: begin <= end.
  void erase_range(Column column, std::string_view begin, std::string_view end) {
    Op& op = next();
    op.column = column;
    op.kind = Kind::erase_range;
    op.key.assign(begin);
    op.value.assign(end);
  }
  void clear() { size_ = 0; }
  bool empty() const { return size_ == 0; }
  std::span<const Op> ops() const { return {ops_.data(), size_}; }

 private:
  Op& next() {
    if (size_ == ops_.size()) ops_.emplace_back();
    return ops_[size_++];
  }
  std::vector<Op> ops_;  // slots past size_ are kept for reuse
  std::size_t size_ = 0;
};

// Called per key in order; return false to stop. The views are valid only during the call
// and carry no alignment guarantee (copy before reading FlatBuffers in place).
using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;

// A consistent, read-only view of the whole store at one moment (a RocksDB snapshot): what a
// partition's snapshot for a new replica is read from while writes go on. Thread-safe; holds
// old versions alive, so keep it only as long as needed.
class KvSnapshot {
 public:
  virtual ~KvSnapshot() = default;
  virtual Error get(Column column, std::string_view key, std::string& value) = 0;
  // As Kv::scan.
  virtual Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
                     const ScanVisitor& visit) = 0;
};

class Kv {
 public:
  virtual ~Kv() = default;

  // ok with `value` filled, not_found, or internal (the message says why).
  virtual Error get(Column column, std::string_view key, std::string& value) = 0;

  // Applies the batch atomically. sync: fsync the write-ahead log before returning
  // (group-committed with concurrent writers); otherwise the write is in the WAL in the OS
  // page cache, which survives a process crash (kill -9) but not a power loss.
  virtual Error write(const WriteBatch& batch, bool sync) = 0;

  // Group commit. Applies the batch atomically like write(batch, false) and readers see it at
  // once, but its write-ahead log record may stay in the process's buffer, where a crash
  // loses it. Whatever reveals such a write outside the process (a reply, a push, a peer
  // message) must first call make_durable(), which writes out every record buffered so far
  // in one go: many writes, one system call (and one fsync with `sync`).
  virtual Error write_buffered(const WriteBatch& batch) { return write(batch, false); }
  // Every write made before the call is then in the WAL in the OS page cache (and on disk
  // with `sync`). Cheap when nothing is buffered.
  virtual Error make_durable(bool /*sync*/) { return {}; }

  // Forward: keys that start with `prefix` and are >= `start` (an empty start means the
  // first key with the prefix), ascending. Reverse: keys with `prefix` that are < `start`
  // (an empty start means from the last key with the prefix), descending.
  virtual Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
                     const ScanVisitor& visit) = 0;

  // A consistent view of everything written so far.
  virtual std::unique_ptr<KvSnapshot> snapshot() = 0;

  // Estimated bytes on disk (or in memory), for stats.
  virtual std::uint64_t approximate_size_bytes() const = 0;

  // Makes everything written so far durable (shutdown).
  virtual Error flush() = 0;
};

}  // namespace qim::store
