#pragma once
// Lifeguard's local health multiplier: how much we distrust our own timeliness. It rises when we
// miss acks or nacks we should have received or have to refute a suspicion, falls with each
// successful direct probe, and stretches our probe interval and timeout.
#include <cstdint>

namespace qim::cluster::swim {

class Awareness {
 public:
  // REQUIRES: max_score >= 1. With enabled == false (classic SWIM) the score stays 0.
  Awareness(int max_score, bool enabled) : max_score_(max_score), enabled_(enabled) {}

  void apply_delta(int delta) {
    if (!enabled_) return;
    score_ += delta;
    if (score_ < 0) score_ = 0;
    if (score_ > max_score_ - 1) score_ = max_score_ - 1;
  }

  int score() const { return score_; }

  std::int64_t scale_timeout_ms(std::int64_t timeout_ms) const { return timeout_ms * (score_ + 1); }

  bool invariants_hold() const {
    return score_ >= 0 && score_ <= max_score_ - 1 && (enabled_ || score_ == 0);
  }

 private:
  int max_score_;
  bool enabled_;
  int score_ = 0;
};

}  // namespace qim::cluster::swim
