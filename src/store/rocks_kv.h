#pragma once
// The production Kv: RocksDB with one column family per store::Column. RocksDB types stay in
// rocks_kv.cc so nothing above the store compiles against them.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "store/kv.h"

namespace qim::store {

struct RocksOptions {
  std::size_t block_cache_bytes = 64 << 20;
  std::size_t write_buffer_bytes = 32 << 20;
  int background_jobs = 2;
  bool create_if_missing = true;
};

// RocksDB's health for operators (/metrics): read on a scrape, never on the write path.
struct RocksHealth {
  bool write_stopped = false;            // writes are stopped (too many files or memtables)
  std::uint64_t delayed_write_rate = 0;  // bytes/s writes are slowed to; 0: not slowed
  bool compaction_pending = false;
  std::uint64_t pending_compaction_bytes = 0;
  std::uint64_t wal_bytes = 0;  // live write-ahead log files
  std::uint64_t block_cache_hits = 0;
  std::uint64_t block_cache_misses = 0;
  std::uint64_t block_cache_usage_bytes = 0;
  // Since start: keys put or deleted, and the write batches that carried them (batches written
  // together by RocksDB's group commit share one WAL write). Over a run, keys written per message
  // shows what the write path costs the store.
  std::uint64_t keys_written = 0;
  std::uint64_t write_batches = 0;
};

// Thread-safe. Owns the database; destruction flushes and closes it.
class RocksKv final : public Kv {
 public:
  // The on-disk format this build reads and writes, kept in Column::meta under "format".
  // 1: keys without a partition prefix (no longer read; there is no migration).
  // 2: every key of a data column starts with its partition (service/keys.h).
  static constexpr std::string_view format_version = "2";

  // Opens (creating if allowed) the database at `path`. nullptr with `error` set on failure;
  // the message names the path and RocksDB's reason.
  static std::unique_ptr<RocksKv> open(const std::string& path, const RocksOptions& options,
                                       Error& error);
  ~RocksKv() override;

  Error get(Column column, std::string_view key, std::string& value) override;
  Error write(const WriteBatch& batch, bool sync) override;
  Error write_buffered(const WriteBatch& batch) override;
  Error make_durable(bool sync) override;
  Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
             const ScanVisitor& visit) override;
  std::unique_ptr<KvSnapshot> snapshot() override;
  std::uint64_t approximate_size_bytes() const override;
  Error flush() override;

  RocksHealth health() const;
  // Writes a consistent copy of the database (a RocksDB checkpoint: hard links where the
  // file system allows, memtables flushed first) to `directory`, which must not exist.
  Error checkpoint(const std::string& directory);

 private:
  struct Impl;  // RocksDB handles; defined in rocks_kv.cc
  explicit RocksKv(std::unique_ptr<Impl> impl);
  // Applies the batch; its WAL record is then in RocksDB's buffer (manual_wal_flush).
  Error apply(const WriteBatch& batch);
  std::unique_ptr<Impl> impl_;
  // Group commit bookkeeping: writes applied so far, and how many of them are known to be in
  // the OS (flushed_) and on disk (synced_). Counters only grow.
  std::atomic<std::uint64_t> applied_{0};
  std::atomic<std::uint64_t> flushed_{0};
  std::atomic<std::uint64_t> synced_{0};
};

}  // namespace qim::store
