#include "route/handoff.h"

namespace qim::route {

std::map<std::string, std::vector<std::string>> plan_handoff(
    const Placement& placement, std::span<const std::string> held_keys) {
  std::map<std::string, std::vector<std::string>> plan;
  for (const std::string& key : held_keys) {
    const NodeInfo& home = placement.home_of(key);
    if (home.name != placement.self_name()) plan[home.name].push_back(key);
  }
  return plan;
}

HandoffBatches::Offer HandoffBatches::offer(std::uint8_t column, std::string_view key,
                                            std::string_view value, std::string_view placement_key,
                                            std::string& home) {
  const NodeInfo& owner = placement_.home_of(placement_key);
  if (owner.name == placement_.self_name()) return Offer::stays;
  home = owner.name;
  if (!owner.up) return Offer::home_down;
  if (failed(home)) return Offer::skipped;
  Batch& batch = batches_[home];
  std::size_t cost = handoff_record_cost(key.size(), value.size());
  if (!batch.records.empty() && batch.bytes + cost > max_bytes_) return Offer::full;
  batch.records.push_back(
      {column, std::string(key), std::string(value), std::string(placement_key)});
  batch.bytes += cost;
  return Offer::added;
}

std::vector<HandoffRecord> HandoffBatches::take(const std::string& node) {
  auto found = batches_.find(node);
  if (found == batches_.end()) return {};
  std::vector<HandoffRecord> records = std::move(found->second.records);
  batches_.erase(found);
  return records;
}

std::vector<std::string> HandoffBatches::pending() const {
  std::vector<std::string> nodes;
  for (const auto& [node, batch] : batches_) {
    if (!batch.records.empty()) nodes.push_back(node);
  }
  return nodes;
}

void HandoffBatches::fail(const std::string& node) {
  batches_.erase(node);
  failed_.insert(node);
}

std::size_t HandoffBatches::bytes(const std::string& node) const {
  auto found = batches_.find(node);
  return found == batches_.end() ? handoff_envelope_overhead : found->second.bytes;
}

}  // namespace qim::route
