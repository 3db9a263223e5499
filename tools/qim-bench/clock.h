#pragma once
// The one clock of the generator: senders and receivers are in this process, so a latency is
// the difference of two readings of it.
#include <chrono>
#include <cstdint>

namespace qim::bench {

using Clock = std::chrono::steady_clock;

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

inline Clock::time_point from_ns(std::uint64_t ns) {
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

}  // namespace qim::bench
