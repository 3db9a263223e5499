#pragma once
// The clock seam: cores take time as an argument; services read it through a Clock passed in
// their constructor, so tests can drive time by hand.
#include <atomic>
#include <chrono>
#include <cstdint>

namespace qim::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock milliseconds since the Unix epoch (message timestamps).
  virtual std::int64_t wall_ms() const = 0;
  // Monotonic milliseconds from an arbitrary origin (timeouts, rate limits).
  virtual std::int64_t monotonic_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t wall_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  }
  std::int64_t monotonic_ms() const override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
  }
};

// A clock tests move by hand. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t start_ms = 1'700'000'000'000) : now_ms_(start_ms) {}
  std::int64_t wall_ms() const override { return now_ms_.load(); }
  std::int64_t monotonic_ms() const override { return now_ms_.load(); }
  void advance_ms(std::int64_t delta_ms) { now_ms_ += delta_ms; }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace qim::core
