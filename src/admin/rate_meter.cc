#include "admin/rate_meter.h"

namespace qim::admin {

RateMeter::RateMeter(Clock::time_point start, std::uint64_t start_value,
                     std::chrono::milliseconds window, std::size_t max_samples)
    : window_(window),
      max_samples_(max_samples),
      spacing_(std::chrono::duration_cast<Clock::duration>(window) /
               static_cast<long>(max_samples - 1)) {
  samples_.push_back({start, start_value});
}

double RateMeter::sample(Clock::time_point now, std::uint64_t value) {
  const Sample& last = samples_.back();
  if (value < last.value || now < last.time) {
    samples_.clear();
    samples_.push_back({now, value});
    return 0;
  }
  // Keep one sample at or before the window's start (the base) and everything after it.
  Clock::time_point window_start = now - window_;
  while (samples_.size() >= 2 && samples_[1].time <= window_start)
    samples_.pop_front();
  const Sample& base = samples_.front();
  double seconds = std::chrono::duration<double>(now - base.time).count();
  double rate = seconds > 0 ? static_cast<double>(value - base.value) / seconds : 0;
  if (now - samples_.back().time >= spacing_) {
    samples_.push_back({now, value});
    if (samples_.size() > max_samples_) samples_.pop_front();
  }
  return rate;
}

}  // namespace qim::admin
