// qim-swim-sim: one SWIM + Lifeguard scenario in the deterministic simulator.
//
//   qim-swim-sim --nodes 200 --loss 0.02 --stall-rate 0.1 --seed 7 --duration 600 --lifeguard off
//
// The same seed and options print the same numbers.
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "tests/sim/scenario.h"

int main(int argc, char** argv) {
  CLI::App app{"Simulate a SWIM + Lifeguard cluster with faults and report detection quality"};
  qim::sim::ScenarioOptions options;
  std::string lifeguard = "on";
  double duration_s = 600;
  double crash_every_s = 30;
  bool freeze = false;
  app.add_option("--nodes", options.nodes, "Cluster size")->check(CLI::Range(2, 10'000));
  app.add_option("--loss", options.loss, "Datagram loss probability")->check(CLI::Range(0.0, 1.0));
  app.add_option("--stall-rate", options.stall_rate,
                 "Fraction of nodes that stall 2-5 s now and then")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", options.seed, "Seed; the same seed reproduces the run");
  app.add_option("--duration", duration_s, "Simulated seconds measured after convergence")
      ->check(CLI::PositiveNumber);
  app.add_option("--crash-every", crash_every_s,
                 "Crash a random healthy node every this many seconds (0: never)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--lifeguard", lifeguard, "Lifeguard on or off (off: classic SWIM)")
      ->check(CLI::IsMember({"on", "off"}));
  app.add_flag("--freeze", freeze, "Stalled nodes freeze completely instead of being starved");
  app.add_flag("--check-invariants", options.check_invariants,
               "Run the core's invariants() after every step (slow for large clusters)");
  options.check_invariants = false;
  CLI11_PARSE(app, argc, argv);

  options.lifeguard = lifeguard == "on";
  options.duration_ms = static_cast<std::int64_t>(duration_s * 1000);
  options.crash_every_ms = static_cast<std::int64_t>(crash_every_s * 1000);
  if (freeze) options.stall_wake_gap_min_ms = options.stall_wake_gap_max_ms = 0;

  const qim::sim::ScenarioReport report = qim::sim::run_scenario(options);
  using qim::sim::percentile;
  auto print_percentiles = [](const char* what, const std::vector<std::int64_t>& values) {
    std::printf("%-22s p50=%lld p90=%lld p99=%lld max=%lld ms (n=%zu, -1 = not reached)\n", what,
                static_cast<long long>(percentile(values, 50)),
                static_cast<long long>(percentile(values, 90)),
                static_cast<long long>(percentile(values, 99)),
                static_cast<long long>(percentile(values, 100)), values.size());
  };
  std::printf("nodes=%zu seed=%llu lifeguard=%s loss=%.3f stall-rate=%.3f duration=%.0fs\n",
              options.nodes, static_cast<unsigned long long>(options.seed), lifeguard.c_str(),
              options.loss, options.stall_rate, duration_s);
  std::printf("converged=%s at %lld ms, stalls=%llu, min suspicion timeout=%lld ms\n",
              report.converged ? "yes" : "no", static_cast<long long>(report.convergence_ms),
              static_cast<unsigned long long>(report.stalls),
              static_cast<long long>(report.min_suspicion_timeout_ms));
  print_percentiles("first suspicion:", report.first_suspect_ms);
  print_percentiles("dead at all members:", report.all_dead_ms);
  print_percentiles("  after 1st suspicion:", report.all_dead_after_first_suspect_ms);
  std::printf("false suspicions:      healthy=%llu any-up=%llu\n",
              static_cast<unsigned long long>(report.false_suspicions_of_healthy),
              static_cast<unsigned long long>(report.false_suspicions_of_up));
  std::printf("false deaths:          healthy=%llu any-up=%llu\n",
              static_cast<unsigned long long>(report.false_deaths_of_healthy),
              static_cast<unsigned long long>(report.false_deaths_of_up));
  std::printf(
      "per member per second: %.3f datagrams, %.1f bytes, %.4f push-pulls; "
      "largest datagram %llu bytes\n",
      report.datagrams_per_member_per_second, report.bytes_per_member_per_second,
      report.push_pulls_per_member_per_second,
      static_cast<unsigned long long>(report.max_datagram_bytes));
  return report.converged ? 0 : 1;
}
