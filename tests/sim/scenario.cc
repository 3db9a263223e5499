#include "tests/sim/scenario.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>

#include "cluster/swim/suspicion.h"

namespace qim::sim {
namespace {

struct CrashTrack {
  std::size_t node = 0;
  std::int64_t crashed_at_ms = 0;
  std::int64_t first_suspect_ms = -1;
  std::set<std::size_t> dead_at;  // Observers that hold it dead.
  std::int64_t all_dead_ms = -1;
};

}  // namespace

std::int64_t percentile(std::vector<std::int64_t> values, double p) {
  if (values.empty()) return -1;
  for (auto& value : values) {
    if (value < 0) value = std::numeric_limits<std::int64_t>::max();
  }
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const std::size_t index =
      std::min(values.size() - 1, static_cast<std::size_t>(std::max(1.0, rank)) - 1);
  const std::int64_t value = values[index];
  return value == std::numeric_limits<std::int64_t>::max() ? -1 : value;
}

ScenarioReport run_scenario(const ScenarioOptions& options) {
  SimulatorConfig config;
  config.swim = options.swim;
  config.swim.lifeguard = options.lifeguard;
  config.network.loss = options.loss;
  config.check_invariants = options.check_invariants;
  Simulator sim(config, options.seed);
  ScenarioReport report;

  // Converge without faults, then let the join broadcasts drain before measuring.
  sim.set_loss(0);
  sim.start_cluster(options.nodes);
  report.converged = sim.run_until_converged(300'000);
  report.convergence_ms = sim.now_ms();
  sim.run_for(20'000);
  sim.set_loss(options.loss);

  swim::Random& random = sim.random();
  std::vector<bool> stall_prone(options.nodes, false);
  std::vector<std::int64_t> next_stall_ms(options.nodes, 0);
  const auto prone_count = static_cast<std::size_t>(
      std::llround(options.stall_rate * static_cast<double>(options.nodes)));
  for (std::size_t i = 0; i < prone_count; ++i) {
    stall_prone[i] = true;
    next_stall_ms[i] = sim.now_ms() + random.between(0, options.stall_gap_max_ms);
  }
  auto healthy = [&](std::size_t node) { return sim.is_up(node) && !stall_prone[node]; };

  std::map<std::string, std::size_t> index_by_name;
  for (std::size_t i = 0; i < sim.size(); ++i)
    index_by_name[sim.name(i)] = i;
  std::vector<CrashTrack> crashes;
  std::set<std::pair<std::string, std::uint64_t>> dead_healthy, dead_up;

  sim.set_observer([&](const ObservedEvent& observed) {
    const auto& event = observed.event;
    const auto found = index_by_name.find(event.member.name);
    if (found == index_by_name.end()) return;
    const std::size_t subject = found->second;
    const bool accuser_is_observer = event.cause_name == sim.name(observed.observer);
    if (event.type == swim::EventType::suspect) {
      for (auto& crash : crashes) {
        if (crash.node == subject && crash.first_suspect_ms < 0) {
          crash.first_suspect_ms = observed.time_ms - crash.crashed_at_ms;
        }
      }
      if (accuser_is_observer && sim.is_up(subject)) {
        ++report.false_suspicions_of_up;
        if (healthy(subject)) ++report.false_suspicions_of_healthy;
      }
    } else if (event.type == swim::EventType::dead) {
      if (sim.is_up(subject)) {
        const auto key = std::make_pair(event.member.name, event.member.restart_epoch);
        dead_up.insert(key);
        if (healthy(subject)) dead_healthy.insert(key);
      }
      for (auto& crash : crashes) {
        if (crash.node == subject) crash.dead_at.insert(observed.observer);
      }
    }
  });

  sim.reset_traffic();
  const std::int64_t start_ms = sim.now_ms();
  const std::int64_t end_ms = start_ms + options.duration_ms;
  std::int64_t next_crash_ms =
      options.crash_every_ms > 0 ? start_ms + options.crash_every_ms / 2 : end_ms + 1;
  constexpr std::int64_t kStepMs = 50;
  auto track_deaths = [&] {
    for (auto& crash : crashes) {
      if (crash.all_dead_ms >= 0) continue;
      bool all = true;
      for (std::size_t i = 0; i < sim.size() && all; ++i) {
        if (sim.is_up(i) && !crash.dead_at.count(i)) all = false;
      }
      if (all) crash.all_dead_ms = sim.now_ms() - crash.crashed_at_ms;
    }
  };
  while (sim.now_ms() < end_ms) {
    const std::int64_t now = sim.now_ms();
    for (std::size_t i = 0; i < prone_count; ++i) {
      if (!sim.is_up(i) || now < next_stall_ms[i]) continue;
      const std::int64_t duration = random.between(options.stall_min_ms, options.stall_max_ms);
      sim.stall(i, duration, options.stall_wake_gap_min_ms, options.stall_wake_gap_max_ms);
      ++report.stalls;
      next_stall_ms[i] =
          now + duration + random.between(options.stall_gap_min_ms, options.stall_gap_max_ms);
    }
    if (now >= next_crash_ms) {
      next_crash_ms += options.crash_every_ms;
      for (int attempt = 0; attempt < 1000; ++attempt) {
        const std::size_t victim = random.below(sim.size());
        if (!healthy(victim)) continue;
        sim.crash(victim);
        crashes.push_back(CrashTrack{victim, now, -1, {}, -1});
        break;
      }
    }
    sim.run_for(kStepMs);
    track_deaths();
  }
  const TrafficStats traffic = sim.traffic();
  // Let detection of the last crashes finish (no new faults), so late crashes are measured too.
  const std::int64_t drain_end_ms = sim.now_ms() + 120'000;
  auto pending = [&] {
    return std::any_of(crashes.begin(), crashes.end(),
                       [](const CrashTrack& crash) { return crash.all_dead_ms < 0; });
  };
  while (pending() && sim.now_ms() < drain_end_ms) {
    sim.run_for(kStepMs);
    track_deaths();
  }

  for (const auto& crash : crashes) {
    report.first_suspect_ms.push_back(crash.first_suspect_ms);
    report.all_dead_ms.push_back(crash.all_dead_ms);
    report.all_dead_after_first_suspect_ms.push_back(
        crash.all_dead_ms < 0 || crash.first_suspect_ms < 0
            ? -1
            : crash.all_dead_ms - crash.first_suspect_ms);
  }
  report.false_deaths_of_healthy = dead_healthy.size();
  report.false_deaths_of_up = dead_up.size();
  report.min_suspicion_timeout_ms = swim::Suspicion::min_timeout_ms(
      config.swim.suspicion_multiplier, options.nodes, config.swim.probe_interval_ms);
  const double member_seconds =
      static_cast<double>(options.nodes) * static_cast<double>(options.duration_ms) / 1000.0;
  report.datagrams_per_member_per_second = static_cast<double>(traffic.datagrams) / member_seconds;
  report.bytes_per_member_per_second = static_cast<double>(traffic.bytes) / member_seconds;
  report.push_pulls_per_member_per_second =
      static_cast<double>(traffic.push_pulls) / member_seconds;
  report.max_datagram_bytes = traffic.max_datagram_bytes;
  return report;
}

}  // namespace qim::sim
