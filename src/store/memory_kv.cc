#include "store/memory_kv.h"

#include <mutex>

namespace qim::store {

Error MemoryKv::get(Column column, std::string_view key, std::string& value) {
  std::shared_lock lock(mutex_);
  const Table& table = tables_[static_cast<std::size_t>(column)];
  auto it = table.find(key);
  if (it == table.end()) return {errc::not_found, "no such key"};
  value = it->second;
  return {};
}

Error MemoryKv::write(const WriteBatch& batch, bool /*sync*/) {
  std::unique_lock lock(mutex_);
  for (const auto& op : batch.ops()) {
    Table& table = tables_[static_cast<std::size_t>(op.column)];
    switch (op.kind) {
      case WriteBatch::Kind::put:
        table.insert_or_assign(op.key, op.value);
        break;
      case WriteBatch::Kind::erase: {
        auto it = table.find(op.key);
        if (it != table.end()) table.erase(it);
        break;
      }
      case WriteBatch::Kind::erase_range:
        if (op.key < op.value) table.erase(table.lower_bound(op.key), table.lower_bound(op.value));
        break;
    }
  }
  return {};
}

void MemoryKv::collect(const std::array<Table, column_count>& tables, Column column,
                       std::string_view prefix, std::string_view start, bool reverse,
                       std::vector<std::pair<std::string, std::string>>& rows) {
  const Table& table = tables[static_cast<std::size_t>(column)];
  auto has_prefix = [&](const std::string& key) { return key.starts_with(prefix); };
  if (!reverse) {
    std::string_view from = start.empty() || start < prefix ? prefix : start;
    for (auto it = table.lower_bound(from); it != table.end() && has_prefix(it->first); ++it) {
      rows.emplace_back(it->first, it->second);
    }
    return;
  }
  auto it = start.empty() ? table.end() : table.lower_bound(start);
  if (start.empty()) {
    // Position past the last key with the prefix.
    std::string upper(prefix);
    while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff)
      upper.pop_back();
    if (!upper.empty()) {
      upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
      it = table.lower_bound(upper);
    }
  }
  while (it != table.begin()) {
    --it;
    if (!has_prefix(it->first)) {
      if (it->first < prefix) break;
      continue;
    }
    rows.emplace_back(it->first, it->second);
  }
}

Error MemoryKv::scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
                     const ScanVisitor& visit) {
  // Copy the matching range first so the visitor may write to the store.
  std::vector<std::pair<std::string, std::string>> rows;
  {
    std::shared_lock lock(mutex_);
    collect(tables_, column, prefix, start, reverse, rows);
  }
  for (const auto& [key, value] : rows) {
    if (!visit(key, value)) break;
  }
  return {};
}

// A copy of every table: tests only, so simplicity beats memory.
class MemoryKv::Snapshot final : public KvSnapshot {
 public:
  explicit Snapshot(std::array<Table, column_count> tables) : tables_(std::move(tables)) {}
  Error get(Column column, std::string_view key, std::string& value) override {
    const Table& table = tables_[static_cast<std::size_t>(column)];
    auto it = table.find(key);
    if (it == table.end()) return {errc::not_found, "no such key"};
    value = it->second;
    return {};
  }
  Error scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
             const ScanVisitor& visit) override {
    std::vector<std::pair<std::string, std::string>> rows;
    collect(tables_, column, prefix, start, reverse, rows);
    for (const auto& [key, value] : rows) {
      if (!visit(key, value)) break;
    }
    return {};
  }

 private:
  const std::array<Table, column_count> tables_;
};

std::unique_ptr<KvSnapshot> MemoryKv::snapshot() {
  std::shared_lock lock(mutex_);
  return std::make_unique<Snapshot>(tables_);
}

std::uint64_t MemoryKv::approximate_size_bytes() const {
  std::shared_lock lock(mutex_);
  std::uint64_t total = 0;
  for (const Table& table : tables_) {
    for (const auto& [key, value] : table)
      total += key.size() + value.size();
  }
  return total;
}

}  // namespace qim::store
