#pragma once
// The Prometheus text exposition format (version 0.0.4), written: families with their HELP
// and TYPE lines, samples with escaped labels, histograms with cumulative buckets, _sum and
// _count. Strings out, no I/O; /metrics (node/node_metrics.h) fills one per scrape.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qim::admin {

using MetricLabels = std::vector<std::pair<std::string_view, std::string>>;

class MetricsText {
 public:
  enum class Type { counter, gauge, histogram };

  // Starts a family. REQUIRES: `name` is a valid metric name, not started before; counters
  // are named with "_total" (their samples carry the full name).
  void family(std::string_view name, Type type, std::string_view help);
  // A sample of the current family (`name` with any suffix, e.g. the family name itself).
  void sample(std::string_view name, const MetricLabels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A histogram of the current family: `counts` per bucket (not cumulative), one more than
  // `bounds` (the last is +Inf).
  void histogram(std::string_view name, const MetricLabels& labels, std::span<const double> bounds,
                 std::span<const std::uint64_t> counts, double sum);
  // A whole family of one unlabelled sample.
  void single(std::string_view name, Type type, std::string_view help, double value) {
    family(name, type, help);
    sample(name, value);
  }

  const std::string& text() const { return out_; }

 private:
  void write_labels(const MetricLabels& labels, std::string_view extra_name = {},
                    std::string_view extra_value = {});
  void write_value(double value);

  std::string out_;
};

}  // namespace qim::admin
