#pragma once
// An in-memory Kv for tests and the simulator: same ordering and atomicity as RocksKv, no
// durability. Thread-safe (one reader-writer lock; not for benchmarks).
#include <array>
#include <map>
#include <shared_mutex>

#include "store/kv.h"

namespace qim::store {

class MemoryKv final : public Kv {
 public:
  Error get(Column column, std::string_view key, std::string& value) override;
  Error write(const WriteBatch& batch, bool sync) override;
  Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
             const ScanVisitor& visit) override;
  std::unique_ptr<KvSnapshot> snapshot() override;
  std::uint64_t approximate_size_bytes() const override;
  Error flush() override { return {}; }

 private:
  using Table = std::map<std::string, std::string, std::less<>>;
  class Snapshot;
  // As scan(), over `tables`. REQUIRES: they are not written meanwhile (a lock or a copy).
  static void collect(const std::array<Table, column_count>& tables, Column column,
                      std::string_view prefix, std::string_view start, bool reverse,
                      std::vector<std::pair<std::string, std::string>>& rows);
  mutable std::shared_mutex mutex_;
  std::array<Table, column_count> tables_;  // GUARDED_BY(mutex_)
};

}  // namespace qim::store
