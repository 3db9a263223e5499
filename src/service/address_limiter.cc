#include "service/address_limiter.h"

namespace qim::service {

AddressLimiter::AddressLimiter(double per_minute, double burst, std::size_t max_tracked)
    : per_minute_(per_minute), burst_(burst), max_tracked_(max_tracked) {}

bool AddressLimiter::try_take(std::string_view address, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto found = buckets_.find(std::string(address));
  if (found == buckets_.end()) {
    if (buckets_.size() >= max_tracked_) {
      for (auto it = buckets_.begin(); it != buckets_.end();) {
        it = it->second.is_full(now_ms) ? buckets_.erase(it) : std::next(it);
      }
      if (buckets_.size() >= max_tracked_) buckets_.erase(buckets_.begin());
    }
    found =
        buckets_
            .emplace(std::string(address), core::TokenBucket(per_minute_ / 60.0, burst_, now_ms))
            .first;
  }
  return found->second.try_take(now_ms);
}

std::size_t AddressLimiter::tracked() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace qim::service
