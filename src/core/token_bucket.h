#pragma once
// A token bucket for rate limits. Pure: time is an argument. Not thread-safe; its owner
// serialises access.
#include <algorithm>
#include <cstdint>

namespace qim::core {

class TokenBucket {
 public:
  // REQUIRES: rate_per_second > 0, burst >= 1.
  TokenBucket(double rate_per_second, double burst, std::int64_t now_ms)
      : rate_per_ms_(rate_per_second / 1000.0), burst_(burst), tokens_(burst), last_ms_(now_ms) {}

  // Takes `cost` tokens if available.
  bool try_take(std::int64_t now_ms, double cost = 1.0) {
    refill(now_ms);
    if (tokens_ < cost) return false;
    tokens_ -= cost;
    return true;
  }

  // True when the bucket is full again, so its owner may forget it.
  bool is_full(std::int64_t now_ms) {
    refill(now_ms);
    return tokens_ >= burst_;
  }

 private:
  void refill(std::int64_t now_ms) {
    if (now_ms > last_ms_) {
      tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ms - last_ms_) * rate_per_ms_);
      last_ms_ = now_ms;
    }
  }

  double rate_per_ms_;
  double burst_;
  double tokens_;
  std::int64_t last_ms_;
};

}  // namespace qim::core
