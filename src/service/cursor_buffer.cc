#include "service/cursor_buffer.h"

#include <algorithm>

namespace qim::service {

CursorBuffer::CursorBuffer(std::uint32_t partitions, std::size_t max_entries)
    : max_entries_(max_entries) {
  partitions_.reserve(partitions);
  for (std::uint32_t i = 0; i < partitions; ++i)
    partitions_.push_back(std::make_unique<Partition>());
}

bool CursorBuffer::raise(PartitionId partition, std::string_view key, const CursorView& move) {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  if (part.sealed) return false;
  auto found = part.entries.find(key);
  if (found == part.entries.end()) {
    if (total_.load(std::memory_order_relaxed) >= max_entries_ && !drop_cached(part)) {
      return false;
    }
    CursorMove copy{std::string(move.user), std::string(move.device),
                    std::string(move.conversation), move.seq};
    part.entries.emplace(std::string(key), Entry{std::move(copy)});
    part.pending.emplace_back(key);
    total_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  Entry& entry = found->second;
  if (move.seq <= std::max({entry.move.seq, entry.in_flight, entry.stored})) return true;
  if (entry.move.seq == 0) part.pending.emplace_back(key);
  entry.move.seq = move.seq;
  return true;
}

std::optional<std::uint64_t> CursorBuffer::read(PartitionId partition, std::string_view key) const {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  auto found = part.entries.find(key);
  if (found == part.entries.end()) return std::nullopt;
  const Entry& entry = found->second;
  return std::max({entry.move.seq, entry.in_flight, entry.stored});
}

std::vector<CursorMove> CursorBuffer::take(PartitionId partition, std::size_t limit,
                                           std::vector<std::string>& keys) {
  Partition& part = at(partition);
  std::vector<CursorMove> moves;
  keys.clear();
  std::lock_guard lock(part.mutex);
  std::size_t count = std::min(limit, part.pending.size());
  if (count == 0) return moves;
  moves.reserve(count);
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto found = part.entries.find(part.pending[i]);
    if (found == part.entries.end() || found->second.move.seq == 0) continue;
    Entry& entry = found->second;
    entry.in_flight = std::max(entry.in_flight, entry.move.seq);
    moves.push_back(entry.move);
    entry.move.seq = 0;
    keys.push_back(std::move(part.pending[i]));
  }
  part.pending.erase(part.pending.begin(),
                     part.pending.begin() + static_cast<std::ptrdiff_t>(count));
  if (!moves.empty()) commands_.fetch_add(1, std::memory_order_relaxed);
  return moves;
}

void CursorBuffer::settle(PartitionId partition, const std::vector<std::string>& keys,
                          const std::vector<CursorMove>& moves, bool ok) {
  Partition& part = at(partition);
  {
    std::lock_guard lock(part.mutex);
    for (std::size_t i = 0; i < keys.size() && i < moves.size(); ++i) {
      auto found = part.entries.find(keys[i]);
      if (found == part.entries.end()) continue;  // forgotten meanwhile
      Entry& entry = found->second;
      // A later take of the same key may have raised in_flight past this command's value: that
      // command settles it.
      if (entry.in_flight > moves[i].seq) continue;
      entry.in_flight = 0;
      if (ok) {
        entry.stored = std::max(entry.stored, moves[i].seq);
      } else if (entry.move.seq < moves[i].seq) {
        if (entry.move.seq == 0) part.pending.push_back(keys[i]);
        entry.move.seq = moves[i].seq;
      }
    }
  }
  if (!moves.empty()) commands_.fetch_sub(1, std::memory_order_relaxed);
}

bool CursorBuffer::drop_cached(Partition& part) {
  std::size_t dropped = std::erase_if(part.entries, [](const auto& item) {
    return item.second.move.seq == 0 && item.second.in_flight == 0;
  });
  total_.fetch_sub(dropped, std::memory_order_relaxed);
  return dropped > 0;
}

void CursorBuffer::forget(PartitionId partition) {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  total_.fetch_sub(part.entries.size(), std::memory_order_relaxed);
  part.entries.clear();
  part.pending.clear();
}

void CursorBuffer::forget(PartitionId partition, std::string_view prefix) {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  std::size_t dropped = std::erase_if(
      part.entries, [prefix](const auto& item) { return item.first.starts_with(prefix); });
  std::erase_if(part.pending, [prefix](const std::string& key) { return key.starts_with(prefix); });
  total_.fetch_sub(dropped, std::memory_order_relaxed);
}

void CursorBuffer::seal(PartitionId partition, bool sealed) {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  part.sealed = sealed;
}

bool CursorBuffer::sealed(PartitionId partition) const {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  return part.sealed;
}

std::size_t CursorBuffer::entries() const {
  return total_.load(std::memory_order_relaxed);
}

std::size_t CursorBuffer::pending(PartitionId partition) const {
  Partition& part = at(partition);
  std::lock_guard lock(part.mutex);
  return part.pending.size();
}

std::size_t CursorBuffer::in_flight() const {
  return commands_.load(std::memory_order_relaxed);
}

}  // namespace qim::service
