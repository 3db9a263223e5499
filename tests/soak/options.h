#pragma once
// qim-soak's command line: the cluster, the workload, the faults and where the results go.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schedule.h"

namespace qim::soak {

struct Options {
  std::uint64_t seed = 1;
  std::int64_t duration_s = 600;
  std::uint32_t nodes = 5;
  std::uint32_t users = 30;
  std::uint32_t groups = 4;
  double rate = 2.0;  // messages per second per user
  FaultKinds faults{true, true, true, true};
  std::int64_t fault_interval_min_s = 5, fault_interval_max_s = 15;
  bool overlap = true;
  std::vector<std::string> qimd_args;  // passed to every qimd
  std::string out = "soak-out";
  bool keep = false;
  std::string qimd_path;
  std::string qimctl_path;
  // How long a SIGTERM'd node may take to exit; how long pending retries may go on after the
  // run; how long the cluster may take to answer again at the end.
  std::int64_t leave_bound_s = 30;
  std::int64_t drain_s = 60;
  std::int64_t heal_s = 60;
  std::uint32_t request_timeout_ms = 3'000;
  // `qim-soak check --history FILE`: check a saved history instead of running.
  std::string check_history;
  std::size_t examples_per_kind = 5;
};

struct ParsedOptions {
  std::optional<Options> options;  // nullopt: exit with exit_code (help or a bad flag)
  int exit_code = 0;
};

ParsedOptions parse_options(int argc, char** argv);

}  // namespace qim::soak
