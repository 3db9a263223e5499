#pragma once
// A rate limit per remote address (a token bucket each): registrations, which cost a password
// hash and create an account, are limited per address so one host cannot fill the store.
//
// Thread-safety: any thread (one mutex; each use already costs a password hash).
// Memory: at most max_tracked buckets; when full, buckets that have refilled are forgotten
// first, then an arbitrary one.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/token_bucket.h"

namespace qim::service {

class AddressLimiter {
 public:
  static constexpr std::size_t default_max_tracked = 100'000;

  // REQUIRES: per_minute > 0, burst >= 1.
  AddressLimiter(double per_minute, double burst, std::size_t max_tracked = default_max_tracked);

  // Takes one unit of `address`'s budget; false when it is spent.
  bool try_take(std::string_view address, std::int64_t now_ms);
  std::size_t tracked() const;

 private:
  const double per_minute_;
  const double burst_;
  const std::size_t max_tracked_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, core::TokenBucket> buckets_;  // GUARDED_BY(mutex_)
};

}  // namespace qim::service
