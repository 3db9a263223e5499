#pragma once
// Milliseconds since the soak started, on the steady clock: the time axis of the history.
#include <chrono>
#include <cstdint>

namespace qim::soak {

class RunClock {
 public:
  RunClock() : start_(std::chrono::steady_clock::now()) {}
  std::int64_t now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start_)
        .count();
  }
  std::chrono::steady_clock::time_point at(std::int64_t ms) const {
    return start_ + std::chrono::milliseconds(ms);
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace qim::soak
