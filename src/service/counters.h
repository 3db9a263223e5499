#pragma once
// Service counters, kept apart from the logic that bumps them. Relaxed atomics: they are for
// stats and metrics, never for synchronisation.
#include <atomic>
#include <cstdint>

namespace qim::service {

struct Counters {
  std::atomic<std::uint64_t> messages_stored{0};
  std::atomic<std::uint64_t> messages_pushed{0};  // Deliver frames handed to connections
  std::atomic<std::uint64_t> requests{0};

  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) {
    counter.fetch_add(by, std::memory_order_relaxed);
  }
};

}  // namespace qim::service
