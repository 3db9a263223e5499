#include "options.h"

#include <CLI/CLI.hpp>

namespace qim::soak {

ParsedOptions parse_options(int argc, char** argv) {
  Options options;
  options.qimd_path = QIM_SOAK_QIMD_PATH;
  options.qimctl_path = QIM_SOAK_QIMCTL_PATH;
  CLI::App app{
      "qim-soak: real qimd nodes on loopback under a seeded schedule of faults, a chatting "
      "workload, and a check of everything it saw"};
  std::string faults = "all";
  std::vector<std::int64_t> interval;
  app.add_option("--seed", options.seed, "Seed of the fault schedule and the workload");
  app.add_option("--duration-s", options.duration_s, "Seconds of chatting under faults")
      ->check(CLI::Range(std::int64_t{5}, std::int64_t{86'400}));
  app.add_option("--nodes", options.nodes, "Initial qimd nodes")->check(CLI::Range(1u, 32u));
  app.add_option("--users", options.users, "Users, each with its own client")
      ->check(CLI::Range(2u, 500u));
  app.add_option("--groups", options.groups, "Groups")->check(CLI::Range(0u, 100u));
  app.add_option("--rate", options.rate, "Messages per second per user")
      ->check(CLI::Range(0.01, 50.0));
  app.add_option("--faults", faults, "kill,stop,term,join | all | none");
  app.add_option("--fault-interval-s", interval,
                 "Seconds between fault starts: MIN MAX (default 5 15)")
      ->expected(2);
  app.add_flag("!--no-overlap", options.overlap, "Start a fault only after the previous one ended");
  app.add_option("--qimd-arg", options.qimd_args,
                 "An argument passed to every qimd (repeatable; --qimd-arg=--replicas "
                 "--qimd-arg=3)")
      ->allow_extra_args(false);
  app.add_option("--out", options.out, "Directory for the history, node logs and report");
  app.add_flag("--keep", options.keep, "Keep the nodes' data directories");
  app.add_option("--qimd", options.qimd_path, "The qimd binary");
  app.add_option("--qimctl", options.qimctl_path, "The qimctl binary");
  app.add_option("--leave-bound-s", options.leave_bound_s,
                 "Seconds a SIGTERM'd node may take to exit")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{600}));
  app.add_option("--drain-s", options.drain_s, "Seconds pending retries may go on after the run")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600}));
  app.add_option("--heal-s", options.heal_s,
                 "Seconds the cluster may take to answer again at the end")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{3600}));
  app.add_option("--request-timeout-ms", options.request_timeout_ms, "Client request timeout")
      ->check(CLI::Range(100u, 60'000u));
  app.add_option("--examples", options.examples_per_kind,
                 "Violations of each kind printed in full");
  auto* check = app.add_subcommand("check", "Check a saved history instead of running");
  check->add_option("--history", options.check_history, "The history file (history.jsonl)")
      ->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return {std::nullopt, app.exit(error)};
  }
  if (!parse_fault_kinds(faults, options.faults)) {
    std::fprintf(stderr, "--faults: expected kill,stop,term,join, all or none, got %s\n",
                 faults.c_str());
    return {std::nullopt, 2};
  }
  if (!interval.empty()) {
    if (interval[0] < 1 || interval[1] < interval[0]) {
      std::fprintf(stderr, "--fault-interval-s: expected 1 <= MIN <= MAX\n");
      return {std::nullopt, 2};
    }
    options.fault_interval_min_s = interval[0];
    options.fault_interval_max_s = interval[1];
  }
  return {options, 0};
}

}  // namespace qim::soak
