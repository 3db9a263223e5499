#include "service/recent_sends.h"

#include <algorithm>

#include "cluster/ring/hash.h"
#include "service/records.h"

namespace qim::service {
namespace {

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

}  // namespace

// A fixed key, not std::hash: replicas (and builds) must agree on it. The id keys the hash of
// the sender, so no buffer joins the two.
std::uint64_t RecentSends::fingerprint(std::string_view sender, std::uint64_t client_msg_id) {
  return cluster::siphash24(cluster::HashKey{client_msg_id, 0x726563656e742d73ull}, sender);
}

bool RecentSends::Conversation::may_hold(std::uint64_t fingerprint) const {
  return !indexed_ || fingerprints_.contains(fingerprint);
}

void RecentSends::Conversation::push_back(const Entry& entry) {
  entries_.push_back(entry);
  if (indexed_) {
    ++fingerprints_[entry.fingerprint];
  } else if (size() > small) {
    for (std::size_t i = first_; i < entries_.size(); ++i)
      ++fingerprints_[entries_[i].fingerprint];
    indexed_ = true;
  }
}

void RecentSends::Conversation::pop_front() {
  if (indexed_) {
    auto it = fingerprints_.find(front().fingerprint);
    if (it != fingerprints_.end() && --it->second == 0) fingerprints_.erase(it);
  }
  ++first_;
  // Amortised O(1): the dropped front is removed once it is half of the vector.
  if (first_ == entries_.size()) {
    entries_.clear();
    first_ = 0;
  } else if (first_ >= small && 2 * first_ >= entries_.size()) {
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(first_));
    first_ = 0;
  }
}

void RecentSends::Conversation::clear() {
  entries_.clear();
  first_ = 0;
  indexed_ = false;
  fingerprints_.clear();
  written_through = 0;
}

RecentSends::RecentSends(store::Kv& kv, const Keys& keys)
    : kv_(kv),
      keys_(keys),
      units_per_partition_(std::max<std::size_t>(
          2 * (window + conversation_units),
          max_units / std::max<std::uint32_t>(1, keys.partitions().count()))) {
  partitions_.reserve(keys.partitions().count());
  for (std::uint32_t i = 0; i < keys.partitions().count(); ++i)
    partitions_.push_back(std::make_unique<Partition>());
}

Error RecentSends::load(std::string_view conversation, std::uint64_t head_seq,
                        Conversation& loaded) {
  const std::uint64_t floor = head_seq > window ? head_seq - window : 0;
  std::string prefix = keys_.log_prefix(conversation);
  bool corrupt = false;
  // Oldest first, from the window's floor: the log floor (the prefix alone, left by history
  // retention) sorts before every seq and is not reached.
  Error error =
      kv_.scan(store::Column::log, prefix, keys_.log(conversation, floor + 1), false,
               [&](std::string_view key, std::string_view value) {
                 auto seq = keys::log_seq(key, prefix);
                 if (!seq) return false;
                 Message message;
                 if (!decode_log_entry(value, message)) {
                   corrupt = true;
                   return false;
                 }
                 loaded.push_back(Entry{fingerprint(message.sender, message.client_msg_id), *seq,
                                        message.server_time_ms});
                 return true;
               });
  if (error) return internal("reading the conversation's recent messages failed: " + error.message);
  if (corrupt) return internal("a log entry of " + std::string(conversation) + " is corrupted");
  loaded.written_through = head_seq;
  return {};
}

Error RecentSends::still_stored(std::string_view conversation, std::uint64_t seq,
                                std::string_view sender, std::uint64_t client_msg_id,
                                bool& stored) {
  stored = false;
  std::string value;
  Error error = kv_.get(store::Column::log, keys_.log(conversation, seq), value);
  if (error.code == errc::not_found) return {};
  if (error) return internal("reading a logged message failed: " + error.message);
  Message message;
  if (!decode_log_entry(value, message)) {
    return internal("a log entry of " + std::string(conversation) + " is corrupted");
  }
  stored = message.sender == sender && message.client_msg_id == client_msg_id;
  return {};
}

Error RecentSends::find(PartitionId partition_id, std::string_view conversation,
                        std::uint64_t head_seq, std::string_view sender,
                        std::uint64_t client_msg_id, std::optional<Original>& original) {
  original.reset();
  Partition& partition = *partitions_[partition_id];
  auto it = partition.conversations.find(conversation);
  if (it == partition.conversations.end()) {
    Conversation loaded;
    if (Error error = load(conversation, head_seq, loaded)) return error;
    make_room(partition, conversation);
    partition.units += loaded.size() + conversation_units;
    it = partition.conversations.emplace(std::string(conversation), std::move(loaded)).first;
  }
  Conversation& kept = it->second;
  trim(partition, kept, head_seq);
  const std::uint64_t wanted = fingerprint(sender, client_msg_id);
  if (!kept.may_hold(wanted)) return {};
  // Newest first: a client retries what it sent last.
  for (std::size_t i = 0; i < kept.size(); ++i) {
    const Entry& entry = kept.newest(i);
    if (entry.fingerprint != wanted) continue;
    if (entry.seq <= kept.written_through) {
      bool stored = false;
      if (Error error = still_stored(conversation, entry.seq, sender, client_msg_id, stored)) {
        return error;
      }
      if (!stored) continue;
    }
    original = Original{entry.seq, entry.server_time_ms};
    return {};
  }
  return {};
}

void RecentSends::appended(PartitionId partition_id, std::string_view conversation,
                           std::string_view sender, std::uint64_t client_msg_id, std::uint64_t seq,
                           std::uint64_t server_time_ms) {
  Partition& partition = *partitions_[partition_id];
  auto it = partition.conversations.find(conversation);
  if (it == partition.conversations.end()) {
    make_room(partition, conversation);
    partition.units += conversation_units;
    it = partition.conversations.emplace(std::string(conversation), Conversation{}).first;
  }
  Conversation& kept = it->second;
  const bool listed = kept.has_unwritten();
  if (!kept.empty() && kept.back().seq >= seq) {
    // Seqs only grow; what is kept no longer describes this log.
    partition.units -= kept.size();
    kept.clear();
  }
  kept.push_back(Entry{fingerprint(sender, client_msg_id), seq, server_time_ms});
  ++partition.units;
  if (!listed) partition.unwritten.push_back(&kept);
  trim(partition, kept, seq);
}

void RecentSends::written(PartitionId partition_id) {
  if (partition_id >= partitions_.size()) return;
  Partition& partition = *partitions_[partition_id];
  for (Conversation* conversation : partition.unwritten) {
    if (!conversation->empty()) {
      conversation->written_through = conversation->back().seq;
    }
  }
  partition.unwritten.clear();
}

void RecentSends::forget_partition(PartitionId partition_id) {
  if (partition_id >= partitions_.size()) return;
  partitions_[partition_id] = std::make_unique<Partition>();
}

void RecentSends::forget(PartitionId partition_id, std::string_view conversation) {
  if (partition_id >= partitions_.size()) return;
  Partition& partition = *partitions_[partition_id];
  auto it = partition.conversations.find(conversation);
  if (it == partition.conversations.end()) return;
  std::erase(partition.unwritten, &it->second);
  partition.units -= std::min(partition.units, conversation_units + it->second.size());
  partition.conversations.erase(it);
}

std::size_t RecentSends::units(PartitionId partition_id) const {
  return partition_id < partitions_.size() ? partitions_[partition_id]->units : 0;
}

void RecentSends::trim(Partition& partition, Conversation& conversation, std::uint64_t head_seq) {
  const std::uint64_t floor = head_seq > window ? head_seq - window : 0;
  while (!conversation.empty() && conversation.front().seq <= floor) {
    conversation.pop_front();
    --partition.units;
  }
}

void RecentSends::make_room(Partition& partition, std::string_view keep) {
  // Whole conversations go, in no particular order; never one with unwritten entries (it would
  // be reloaded without them) nor `keep`.
  for (auto it = partition.conversations.begin();
       partition.units + window + conversation_units > units_per_partition_ &&
       it != partition.conversations.end();) {
    if (it->second.has_unwritten() || it->first == keep) {
      ++it;
      continue;
    }
    partition.units -= it->second.size() + conversation_units;
    it = partition.conversations.erase(it);
  }
}

}  // namespace qim::service
