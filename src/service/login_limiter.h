#pragma once
// Failed-login budgets per user and per remote address (token buckets). A login is refused
// while either budget is empty; only failures spend it, so a user who types the password
// right is never slowed down by this.
//
// Thread-safety: all methods may be called from any thread (one mutex; a login attempt
// already costs a password hash, so this lock is not on a hot path).
// Memory: each map holds at most max_tracked buckets; when one is full, buckets that have
// refilled are forgotten first, then an arbitrary one.
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/token_bucket.h"

namespace qim::service {

class LoginLimiter {
 public:
  static constexpr std::size_t default_max_tracked = 100'000;

  // REQUIRES: both rates > 0.
  LoginLimiter(double failures_per_minute_per_user, double failures_per_minute_per_address,
               std::size_t max_tracked = default_max_tracked);

  // True when neither the user's nor the address's budget is exhausted.
  bool allowed(std::string_view user, std::string_view address, std::int64_t now_ms);
  // Spends one unit of both budgets.
  void record_failure(std::string_view user, std::string_view address, std::int64_t now_ms);

  std::size_t tracked_users() const;
  std::size_t tracked_addresses() const;

 private:
  using Buckets = std::unordered_map<std::string, core::TokenBucket>;

  static bool has_budget(const Buckets& buckets, std::string_view key, std::int64_t now_ms);
  void spend(Buckets& buckets, double per_minute, std::string_view key, std::int64_t now_ms);

  const double per_minute_per_user_;
  const double per_minute_per_address_;
  const std::size_t max_tracked_;
  mutable std::mutex mutex_;
  Buckets users_;      // GUARDED_BY(mutex_)
  Buckets addresses_;  // GUARDED_BY(mutex_)
};

}  // namespace qim::service
