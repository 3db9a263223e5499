#pragma once
// The soak's report: counts, violations by kind with the first examples in full, and
// availability per fault and per kind of fault, as text for people.
#include <cstddef>
#include <string>

#include "checker.h"

namespace qim::soak {

// `examples_per_kind` violations of each kind are printed in full; the rest are counted.
std::string format_report(const History& history, const CheckResult& result,
                          std::size_t examples_per_kind = 5);

// One line for a run: the seed, the counts and the violations by kind.
std::string format_summary_line(const History& history, const CheckResult& result);

}  // namespace qim::soak
