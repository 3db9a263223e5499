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
    if (op.erase) {
      auto it = table.find(op.key);
      if (it != table.end()) table.erase(it);
    } else {
      table.insert_or_assign(op.key, op.value);
    }
  }
  return {};
}

Error MemoryKv::scan(Column column, std::string_view prefix, std::string_view start, bool reverse,
                     const ScanVisitor& visit) {
  // Copy the matching range first so the visitor may write to the store.
  std::vector<std::pair<std::string, std::string>> rows;
  {
    std::shared_lock lock(mutex_);
    const Table& table = tables_[static_cast<std::size_t>(column)];
    auto has_prefix = [&](const std::string& key) { return key.starts_with(prefix); };
    if (!reverse) {
      std::string_view from = start.empty() || start < prefix ? prefix : start;
      for (auto it = table.lower_bound(from); it != table.end() && has_prefix(it->first); ++it) {
        rows.emplace_back(it->first, it->second);
      }
    } else {
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
  }
  for (const auto& [key, value] : rows) {
    if (!visit(key, value)) break;
  }
  return {};
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
