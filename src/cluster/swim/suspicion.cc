#include "cluster/swim/suspicion.h"

#include <algorithm>
#include <cmath>

namespace qim::cluster::swim {

Suspicion::Suspicion(std::string_view from_name, int expected_confirmations,
                     std::int64_t min_timeout_ms, std::int64_t max_timeout_ms,
                     std::int64_t start_ms)
    : expected_confirmations_(expected_confirmations),
      min_timeout_ms_(min_timeout_ms),
      max_timeout_ms_(max_timeout_ms),
      start_ms_(start_ms) {
  accusers_.emplace_back(from_name);
  // With no confirmations to wait for, the minimum applies from the start.
  const std::int64_t timeout = expected_confirmations_ < 1 ? min_timeout_ms_ : max_timeout_ms_;
  deadline_ms_ = start_ms_ + timeout;
}

bool Suspicion::confirm(std::string_view from_name) {
  if (confirmations_ >= expected_confirmations_) return false;
  if (std::find(accusers_.begin(), accusers_.end(), from_name) != accusers_.end()) return false;
  accusers_.emplace_back(from_name);
  ++confirmations_;
  deadline_ms_ = start_ms_ + timeout_ms(confirmations_, expected_confirmations_, min_timeout_ms_,
                                        max_timeout_ms_);
  return true;
}

std::int64_t Suspicion::timeout_ms(int confirmations, int expected_confirmations,
                                   std::int64_t min_timeout_ms, std::int64_t max_timeout_ms) {
  if (expected_confirmations < 1) return min_timeout_ms;
  const double fraction = std::log(confirmations + 1.0) / std::log(expected_confirmations + 1.0);
  const double raw_ms = static_cast<double>(max_timeout_ms) -
                        fraction * static_cast<double>(max_timeout_ms - min_timeout_ms);
  return std::max(min_timeout_ms, static_cast<std::int64_t>(std::floor(raw_ms)));
}

std::int64_t Suspicion::min_timeout_ms(int suspicion_multiplier, std::size_t member_count,
                                       std::int64_t probe_interval_ms) {
  const double node_scale =
      std::max(1.0, std::log10(std::max(1.0, static_cast<double>(member_count))));
  return static_cast<std::int64_t>(suspicion_multiplier * node_scale *
                                   static_cast<double>(probe_interval_ms));
}

}  // namespace qim::cluster::swim
