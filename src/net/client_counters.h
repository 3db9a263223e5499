#pragma once
// Client traffic counters, kept apart from the connection logic: one set per connection shard
// (per I/O thread), summed by the reader on a scrape, so the hot path never shares a cache
// line across threads. Relaxed atomics: counts, never synchronisation.
#include <atomic>
#include <cstdint>

namespace qim::net {

struct ClientTraffic {
  std::uint64_t bytes_received = 0;  // frames from clients, length prefixes included
  std::uint64_t bytes_sent = 0;      // frames queued to clients (replies and pushes)
  std::uint64_t slow_consumers = 0;  // connections closed because their queue overflowed
};

struct alignas(64) ClientCounters {
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> slow_consumers{0};

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t amount = 1) {
    counter.fetch_add(amount, std::memory_order_relaxed);
  }
  void add_to(ClientTraffic& sum) const {
    sum.bytes_received += bytes_received.load(std::memory_order_relaxed);
    sum.bytes_sent += bytes_sent.load(std::memory_order_relaxed);
    sum.slow_consumers += slow_consumers.load(std::memory_order_relaxed);
  }
};

}  // namespace qim::net
