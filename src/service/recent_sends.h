#pragma once
// Which sends are retries (DESIGN §5). A send from `sender` with `client_msg_id` to a
// conversation is a retry when the conversation's log holds, among its last `window` seqs, a
// message from that sender with that id: then it gets that message's seq and is not stored
// again. The rule reads the log alone, so every replica decides a retry alike, and it costs no
// record of its own: the stored message carries its sender and id.
//
// This keeps, per conversation, a fingerprint of (sender, id) and the seq of its last `window`
// messages in memory, loaded from the log's tail (one reverse scan) when a send first needs them
// and extended by every send applied, and counts the fingerprints in a hash index, so that a
// send that is not a retry (nearly all) is told so by one lookup, not a walk of the window. A
// hit is checked against the stored entry (a retry is rare; the check makes the answer exactly
// the rule's even after history retention deleted entries); an entry applied since the last
// write is trusted on its fingerprint (the store does not hold it yet; two different (sender,
// id) pairs share a 64-bit fingerprint with odds of 2^-64, and every replica computes the same:
// SipHash of the sender keyed by the id).
//
// Thread-safety: apply side only: partition p's structures are used by p's apply thread (one
// at a time). Bounded: a partition holds at most its share of max_units, where an entry counts
// one unit (64 bytes: its 24-byte slot, the vector's slack, its index node and bucket) and a
// conversation `conversation_units` more (its map node and name); a conversation's entries go
// together, never while one of them is unwritten.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "service/keys.h"
#include "store/kv.h"

namespace qim::service {

class RecentSends {
 public:
  // How many of a conversation's last seqs a retry is recognised among. Part of the state
  // machine's definition: replicas must agree on it.
  static constexpr std::uint64_t window = 1024;
  static constexpr std::size_t max_units = std::size_t{1} << 20;  // ~64 MiB
  static constexpr std::size_t conversation_units = 4;

  struct Original {
    std::uint64_t seq = 0;
    std::uint64_t server_time_ms = 0;
  };

  RecentSends(store::Kv& kv, const Keys& keys);

  // The message `sender` sent to `conversation` with `client_msg_id`, if it is within the
  // window of `head_seq` (the conversation's head, applied). REQUIRES: on the apply thread of
  // `partition`.
  Error find(PartitionId partition, std::string_view conversation, std::uint64_t head_seq,
             std::string_view sender, std::uint64_t client_msg_id,
             std::optional<Original>& original);
  // A message was appended (not written yet). For a conversation not loaded here, REQUIRES:
  // the conversation was empty before it (else find() came first).
  void appended(PartitionId partition, std::string_view conversation, std::string_view sender,
                std::uint64_t client_msg_id, std::uint64_t seq, std::uint64_t server_time_ms);
  // Everything appended in `partition` so far is in the store.
  void written(PartitionId partition);
  // Drops what is kept of `partition` (its data was replaced; REQUIRES: no apply of it runs).
  void forget_partition(PartitionId partition);
  // Drops what is kept of one conversation (its log was erased). REQUIRES: on the apply
  // thread of `partition`, nothing of the conversation unwritten.
  void forget(PartitionId partition, std::string_view conversation);

  // What `partition` holds, in units (see above).
  std::size_t units(PartitionId partition) const;

 private:
  struct Entry {
    std::uint64_t fingerprint = 0;  // of (sender, client_msg_id)
    std::uint64_t seq = 0;
    std::uint64_t server_time_ms = 0;
  };
  // A conversation's entries, ascending seq, in a vector that drops its front lazily (a deque
  // would take a 512-byte block for the one or two entries most conversations have). The
  // fingerprints are counted in a hash index only once there are more than `small` of them;
  // below that a walk is cheaper than the index.
  class Conversation {
   public:
    static constexpr std::size_t small = 8;
    std::uint64_t written_through = 0;  // entries above this seq are not in the store yet

    std::size_t size() const { return entries_.size() - first_; }
    bool empty() const { return size() == 0; }
    const Entry& front() const { return entries_[first_]; }
    const Entry& back() const { return entries_.back(); }
    bool has_unwritten() const { return !empty() && back().seq > written_through; }
    // Whether an entry may have `fingerprint` (false means none has).
    bool may_hold(std::uint64_t fingerprint) const;
    // The i-th entry from the newest (0 is the newest). REQUIRES: i < size().
    const Entry& newest(std::size_t i) const { return entries_[entries_.size() - 1 - i]; }
    void push_back(const Entry& entry);
    void pop_front();
    void clear();

   private:
    std::vector<Entry> entries_;
    std::size_t first_ = 0;  // entries_ before it have left
    bool indexed_ = false;
    std::unordered_map<std::uint64_t, std::uint32_t> fingerprints_;  // when indexed_
  };
  // Looks conversations up by view: no string is made to find one.
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const {
      return std::hash<std::string_view>{}(name);
    }
  };
  struct Partition {
    std::unordered_map<std::string, Conversation, NameHash, std::equal_to<>> conversations;
    // Conversations with unwritten entries (map nodes are stable, and such a conversation is
    // never evicted).
    std::vector<Conversation*> unwritten;
    std::size_t units = 0;
  };

  static std::uint64_t fingerprint(std::string_view sender, std::uint64_t client_msg_id);

  Error load(std::string_view conversation, std::uint64_t head_seq, Conversation& loaded);
  // Whether the stored entry at `seq` is from `sender` with `client_msg_id`.
  Error still_stored(std::string_view conversation, std::uint64_t seq, std::string_view sender,
                     std::uint64_t client_msg_id, bool& stored);
  // Entries below the window of `head_seq` leave; then whole conversations if over the share.
  void trim(Partition& partition, Conversation& conversation, std::uint64_t head_seq);
  void make_room(Partition& partition, std::string_view keep);

  store::Kv& kv_;
  const Keys& keys_;
  const std::size_t units_per_partition_;
  std::vector<std::unique_ptr<Partition>> partitions_;
};

}  // namespace qim::service
