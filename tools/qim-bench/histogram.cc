#include "qim-bench/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace qim::bench {

std::size_t Histogram::bucket_of(std::uint64_t value) {
  if (value < sub_bucket_count) return static_cast<std::size_t>(value);
  int top_bit = 63 - std::countl_zero(value);
  // value >> (exponent - 1) lies in [sub_bucket_count, 2 * sub_bucket_count).
  int exponent = top_bit - sub_bucket_bits + 1;  // >= 1
  auto sub_bucket = static_cast<std::size_t>(value >> (exponent - 1)) & (sub_bucket_count - 1);
  return static_cast<std::size_t>(exponent) * sub_bucket_count + sub_bucket;
}

std::uint64_t Histogram::highest_value_of(std::size_t bucket) {
  std::size_t exponent = bucket / sub_bucket_count;
  std::uint64_t sub_bucket = bucket % sub_bucket_count;
  if (exponent == 0) return sub_bucket;
  // The bucket spans [(sub_bucket_count + sub) << (exponent - 1) ... next - 1] in value space.
  std::uint64_t low = (sub_bucket_count | sub_bucket) << (exponent - 1);
  return low + ((std::uint64_t{1} << (exponent - 1)) - 1);
}

void Histogram::record(std::uint64_t value_ns) {
  ++counts_[bucket_of(value_ns)];
  ++count_;
  max_ = std::max(max_, value_ns);
  sum_ += value_ns;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < bucket_count; ++i)
    counts_[i] += other.counts_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
  sum_ += other.sum_;
}

std::uint64_t Histogram::value_at(double quantile) const {
  if (count_ == 0) return 0;
  quantile = std::clamp(quantile, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(quantile * static_cast<double>(count_)));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_value_of(i), max_);
  }
  return max_;
}

}  // namespace qim::bench
