#pragma once
// What one shard measured; merged over the shards by the main thread.
#include <cstdint>
#include <map>
#include <string>

#include "qim-bench/histogram.h"
#include "qim/errc.h"

namespace qim::bench {

struct ShardResult {
  Error error;  // set-up failed: the run is invalid
  std::map<std::string, std::uint64_t> counters;
  std::map<std::string, Histogram> histograms;
  std::map<std::string, std::uint64_t> ack_errors;    // by error code name
  std::map<std::string, std::uint64_t> error_frames;  // pushed Errors, by code name
  std::map<std::string, std::uint64_t> close_reasons;

  void merge(const ShardResult& other) {
    if (!error && other.error) error = other.error;
    for (const auto& [name, value] : other.counters)
      counters[name] += value;
    for (const auto& [name, histogram] : other.histograms)
      histograms[name].merge(histogram);
    for (const auto& [name, value] : other.ack_errors)
      ack_errors[name] += value;
    for (const auto& [name, value] : other.error_frames)
      error_frames[name] += value;
    for (const auto& [name, value] : other.close_reasons)
      close_reasons[name] += value;
  }
};

}  // namespace qim::bench
