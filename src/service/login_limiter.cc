#include "service/login_limiter.h"

#include <iterator>

namespace qim::service {

LoginLimiter::LoginLimiter(double failures_per_minute_per_user,
                           double failures_per_minute_per_address, std::size_t max_tracked)
    : per_minute_per_user_(failures_per_minute_per_user),
      per_minute_per_address_(failures_per_minute_per_address),
      max_tracked_(max_tracked < 1 ? 1 : max_tracked) {}

bool LoginLimiter::has_budget(const Buckets& buckets, std::string_view key, std::int64_t now_ms) {
  auto it = buckets.find(std::string(key));
  if (it == buckets.end()) return true;
  // Peek on a copy: asking must not spend.
  core::TokenBucket peek = it->second;
  return peek.try_take(now_ms);
}

void LoginLimiter::spend(Buckets& buckets, double per_minute, std::string_view key,
                         std::int64_t now_ms) {
  auto it = buckets.find(std::string(key));
  if (it == buckets.end()) {
    if (buckets.size() >= max_tracked_) {
      for (auto bucket = buckets.begin(); bucket != buckets.end();) {
        bucket = bucket->second.is_full(now_ms) ? buckets.erase(bucket) : std::next(bucket);
      }
      if (buckets.size() >= max_tracked_) buckets.erase(buckets.begin());
    }
    double burst = per_minute < 1 ? 1 : per_minute;
    it = buckets.emplace(std::string(key), core::TokenBucket(per_minute / 60.0, burst, now_ms))
             .first;
  }
  it->second.try_take(now_ms);
}

bool LoginLimiter::allowed(std::string_view user, std::string_view address, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  return has_budget(users_, user, now_ms) && has_budget(addresses_, address, now_ms);
}

void LoginLimiter::record_failure(std::string_view user, std::string_view address,
                                  std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  spend(users_, per_minute_per_user_, user, now_ms);
  spend(addresses_, per_minute_per_address_, address, now_ms);
}

std::size_t LoginLimiter::tracked_users() const {
  std::lock_guard lock(mutex_);
  return users_.size();
}

std::size_t LoginLimiter::tracked_addresses() const {
  std::lock_guard lock(mutex_);
  return addresses_.size();
}

}  // namespace qim::service
