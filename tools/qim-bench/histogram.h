#pragma once
// A latency histogram in fixed memory, HDR-style: values are bucketed by their highest set bit
// and then by the next sub_bucket_bits bits, so every recorded value is kept within
// 1 / 2^sub_bucket_bits (under 1%) of its true value, from 1 ns to hours.
#include <array>
#include <cstdint>

namespace qim::bench {

class Histogram {
 public:
  static constexpr int sub_bucket_bits = 7;
  static constexpr std::size_t sub_bucket_count = std::size_t{1} << sub_bucket_bits;
  // Exponent 0 holds the values below sub_bucket_count exactly; each further exponent doubles.
  static constexpr std::size_t exponent_count = 64 - sub_bucket_bits + 1;
  static constexpr std::size_t bucket_count = exponent_count * sub_bucket_count;

  void record(std::uint64_t value_ns);
  void merge(const Histogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  // The value at `quantile` (0..1): an upper bound of the bucket holding it, capped at max().
  std::uint64_t value_at(double quantile) const;

 private:
  static std::size_t bucket_of(std::uint64_t value);
  static std::uint64_t highest_value_of(std::size_t bucket);

  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  unsigned __int128 sum_ = 0;
};

}  // namespace qim::bench
