#include "cluster/swim/broadcast_queue.h"

#include <cmath>
#include <limits>

namespace qim::cluster::swim {
namespace {

// No gossip message is smaller than this; below it, scanning for something that fits is futile.
constexpr std::size_t kSmallestUpdateBytes = 20;
// Bounds the work of one fill when little room is left and many updates are queued.
constexpr int kMaxScannedEntries = 512;

}  // namespace

void BroadcastQueue::push(std::string_view subject, std::vector<std::uint8_t> encoded_message) {
  std::string subject_key(subject);
  if (auto found = key_by_subject_.find(subject_key); found != key_by_subject_.end()) {
    ordered_.erase(found->second);
    key_by_subject_.erase(found);
  }
  const Key key{0, std::numeric_limits<std::uint64_t>::max() - next_sequence_++};
  key_by_subject_.emplace(subject_key, key);
  ordered_.emplace(key, Entry{std::move(subject_key), std::move(encoded_message)});
  while (ordered_.size() > max_entries_) {
    auto last = std::prev(ordered_.end());
    key_by_subject_.erase(last->second.subject);
    ordered_.erase(last);
  }
}

int BroadcastQueue::fill(DatagramBuilder& datagram, int retransmit_limit) {
  std::vector<Key> sent;
  int scanned = 0;
  for (auto it = ordered_.begin(); it != ordered_.end() && scanned < kMaxScannedEntries;
       ++it, ++scanned) {
    if (datagram.remaining_bytes() < kSmallestUpdateBytes) break;
    if (datagram.append(it->second.encoded_message)) sent.push_back(it->first);
  }
  for (const Key& key : sent) {
    auto node = ordered_.extract(key);
    const int transmissions = key.first + 1;
    if (transmissions >= retransmit_limit) {
      key_by_subject_.erase(node.mapped().subject);
      continue;
    }
    node.key() = Key{transmissions, key.second};
    key_by_subject_[node.mapped().subject] = node.key();
    ordered_.insert(std::move(node));
  }
  return static_cast<int>(sent.size());
}

void BroadcastQueue::clear() {
  ordered_.clear();
  key_by_subject_.clear();
}

bool BroadcastQueue::invariants_hold() const {
  return ordered_.size() == key_by_subject_.size() && ordered_.size() <= max_entries_;
}

int BroadcastQueue::retransmit_limit(int retransmit_multiplier, std::size_t member_count) {
  const double scale = std::ceil(std::log10(static_cast<double>(member_count) + 1.0));
  return retransmit_multiplier * static_cast<int>(scale);
}

}  // namespace qim::cluster::swim
