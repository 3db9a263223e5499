#pragma once
// A small checker of the Prometheus text exposition format (0.0.4), for tests that cannot
// count on promtool: every line is a HELP or TYPE comment or a sample; metric and label names
// are valid; label values are quoted with valid escapes; values parse as floats (NaN, +Inf,
// -Inf included); every sample belongs to the family its TYPE line announced (histograms:
// _bucket with an "le" label, _sum, _count), families are not repeated, no sample line is
// repeated, and a histogram's buckets are cumulative and end in le="+Inf" equal to _count.
// No test framework here: the unit and e2e tests both link it.
#include <map>
#include <string>
#include <string_view>

namespace qim::test_support {

struct Exposition {
  std::string error;                         // empty: the text is valid
  std::map<std::string, double> samples;     // "name{labels}" as written -> value
  std::map<std::string, std::string> types;  // family -> counter | gauge | histogram | ...
  bool ok() const { return error.empty(); }
};

Exposition parse_exposition(std::string_view text);

}  // namespace qim::test_support
