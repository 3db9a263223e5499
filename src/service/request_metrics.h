#pragma once
// Request metrics of the client protocol, kept apart from the logic (the session layer bumps
// them, /metrics reads them): latency histograms per operation, errors by code, logins and
// registrations. Striped: each thread adds to its own cache-line-aligned stripe, so the hot
// path never contends; a scrape sums the stripes. Relaxed atomics: counts, never
// synchronisation. Operations are numbered by the caller (the session uses the wire body
// number) below max_operations; larger ones are not counted.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "qim/errc.h"

namespace qim::service {

class RequestMetrics {
 public:
  static constexpr std::size_t max_operations = 64;
  // Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
  static constexpr std::array<double, 13> bucket_bounds_seconds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
  static constexpr std::size_t buckets = bucket_bounds_seconds.size() + 1;
  static constexpr std::size_t codes = errc_max + 1;

  // Summed over the stripes.
  struct Histogram {
    std::array<std::uint64_t, buckets> counts{};  // per bucket, not cumulative
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };
  struct Snapshot {
    std::array<Histogram, max_operations> latency;
    std::array<std::uint64_t, codes> errors{};  // Error replies sent, by code
    std::uint64_t logins = 0;
    std::uint64_t login_failures = 0;
    std::uint64_t registrations = 0;
    std::uint64_t registration_failures = 0;
  };

  // Any thread.
  void observe(std::size_t operation, std::int64_t duration_ns);
  void count_error(errc code);
  void count_login(bool ok);
  void count_registration(bool ok);
  Snapshot snapshot() const;

 private:
  static constexpr std::size_t stripes = 8;
  struct alignas(64) Stripe {
    std::array<std::array<std::atomic<std::uint64_t>, buckets>, max_operations> counts{};
    std::array<std::atomic<std::uint64_t>, max_operations> sum_ns{};
    std::array<std::atomic<std::uint64_t>, codes> errors{};
    std::atomic<std::uint64_t> logins{0};
    std::atomic<std::uint64_t> login_failures{0};
    std::atomic<std::uint64_t> registrations{0};
    std::atomic<std::uint64_t> registration_failures{0};
  };
  Stripe& mine();

  std::array<Stripe, stripes> stripes_;
};

}  // namespace qim::service
