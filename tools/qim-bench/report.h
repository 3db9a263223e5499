#pragma once
// The result of one run as an ordered list of named figures: printed as a human summary or
// as one JSON object (the keys are stable; tools/bench.sh reads them).
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "qim-bench/histogram.h"

namespace qim::bench {

class Report {
 public:
  using Value = std::variant<std::uint64_t, double, std::string>;

  void add(std::string name, Value value) {
    figures_.emplace_back(std::move(name), std::move(value));
  }
  // <prefix>_p50_us, _p99_us, _p999_us, _max_us, _mean_us and _count.
  void add_latency(const std::string& prefix, const Histogram& histogram);
  // A map of counts as one string figure ("code=count,..."), or "none".
  void add_counts(std::string name, const std::map<std::string, std::uint64_t>& counts);
  // A correctness check that must be zero; remembered for the verdict.
  void add_check(std::string name, std::uint64_t value);

  bool checks_passed() const { return checks_passed_; }
  std::string to_json() const;
  std::string to_text() const;

 private:
  std::vector<std::pair<std::string, Value>> figures_;
  bool checks_passed_ = true;
};

}  // namespace qim::bench
