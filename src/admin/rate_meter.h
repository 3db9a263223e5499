#pragma once
// The recent rate of a growing counter (messages in, messages out), from samples taken
// whenever someone asks (each stats request) rather than by a timer. I/O-free: the caller
// passes the time, so it is deterministic and testable.
//
// The rate reported at `now` is the counter's growth per second since the base sample: the
// newest sample taken at least `window` before `now`, or, when none is that old, the oldest one
// kept. So with stats asked often (a dashboard polling every few seconds) it covers about the
// last `window`; asked rarely, it covers the time since the previous request. The first sample
// is the one given at construction (the node's start, counter 0): the first request gets the
// average since start.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace qim::admin {

class RateMeter {
 public:
  using Clock = std::chrono::steady_clock;

  // REQUIRES: window > 0, max_samples >= 2.
  explicit RateMeter(Clock::time_point start, std::uint64_t start_value = 0,
                     std::chrono::milliseconds window = std::chrono::seconds(10),
                     std::size_t max_samples = 32);

  // Records `value` at `now` and returns the growth per second (0 when no time has passed
  // since the base sample). A counter that went down or a time before the last sample (a
  // restart of whatever feeds it) starts the history again at this sample. Not thread-safe.
  double sample(Clock::time_point now, std::uint64_t value);

  // Samples kept (for tests): at most max_samples.
  std::size_t samples() const { return samples_.size(); }

 private:
  struct Sample {
    Clock::time_point time;
    std::uint64_t value = 0;
  };

  const std::chrono::milliseconds window_;
  const std::size_t max_samples_;
  // Samples are kept at least this far apart, so max_samples_ of them span the window.
  const Clock::duration spacing_;
  std::deque<Sample> samples_;  // by time, oldest first; never empty
};

}  // namespace qim::admin
