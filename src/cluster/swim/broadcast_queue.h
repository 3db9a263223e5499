#pragma once
// The queue of membership updates waiting to be piggybacked (memberlist's
// TransmitLimitedQueue). Each update is about one member (its subject); a newer update about a
// subject replaces the older one. Updates are handed out fewest-transmissions-first, newest
// first among equals, and dropped after the retransmit limit.
//
// Bounded: at most max_entries updates; when full the most transmitted, oldest one is dropped.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster/swim/codec.h"

namespace qim::cluster::swim {

class BroadcastQueue {
 public:
  // REQUIRES: max_entries > 0.
  explicit BroadcastQueue(std::size_t max_entries) : max_entries_(max_entries) {}

  // Queues an encoded message (from encode_message) about `subject`, replacing any older one.
  void push(std::string_view subject, std::vector<std::uint8_t> encoded_message);

  // Appends as many queued updates as fit into `datagram`, counting one transmission for each;
  // an update transmitted retransmit_limit times leaves the queue. Returns how many were added.
  int fill(DatagramBuilder& datagram, int retransmit_limit);

  std::size_t size() const { return ordered_.size(); }
  bool empty() const { return ordered_.empty(); }
  void clear();

  bool invariants_hold() const;

  // The retransmit limit for a cluster of member_count members: multiplier * ceil(log10(n+1)).
  static int retransmit_limit(int retransmit_multiplier, std::size_t member_count);

 private:
  // (transmissions, reversed sequence): ascending order is fewest transmissions, then newest.
  using Key = std::pair<int, std::uint64_t>;
  struct Entry {
    std::string subject;
    std::vector<std::uint8_t> encoded_message;
  };

  std::size_t max_entries_;
  std::uint64_t next_sequence_ = 0;
  std::map<Key, Entry> ordered_;
  std::unordered_map<std::string, Key> key_by_subject_;
};

}  // namespace qim::cluster::swim
