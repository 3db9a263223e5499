// qim-soak: starts real qimd nodes on loopback, runs a chatting workload against them while a
// seeded nemesis kills, pauses, stops and adds nodes, heals the cluster, reads everything
// back, and checks the recorded history. `qim-soak check --history FILE` checks a saved one.
// Exit status: 0 no violation, 1 violations, 2 bad usage, 3 the run could not be carried out.
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/core.h>

#include "checker.h"
#include "cluster.h"
#include "history.h"
#include "nemesis.h"
#include "options.h"
#include "read_back.h"
#include "report.h"
#include "run_clock.h"
#include "schedule.h"
#include "workload.h"

namespace qim::soak {
namespace {

constexpr auto cluster_start_timeout = std::chrono::seconds(60);
constexpr std::int64_t setup_timeout_ms = 120'000;
constexpr auto heal_poll = std::chrono::milliseconds(500);
constexpr auto settle_quiet = std::chrono::milliseconds(2'000);
constexpr std::int64_t settle_timeout_ms = 60'000;
constexpr std::int64_t read_back_timeout_ms = 300'000;
// Lines of a node's log that mean a crash or a broken invariant (case-sensitive).
const char* const log_problem_markers[] = {
    "Assertion `",    "AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
    "runtime error:", "terminate called", "Aborted",       "abort()"};
constexpr std::size_t max_log_problems_per_node = 20;

int check_saved(const Options& options) {
  History history;
  std::string error;
  if (!read_history(options.check_history, history, error)) {
    std::fprintf(stderr, "qim-soak: %s\n", error.c_str());
    return 3;
  }
  CheckResult result = check_history(history);
  std::fputs(format_report(history, result, options.examples_per_kind).c_str(), stdout);
  std::printf("%s\n", format_summary_line(history, result).c_str());
  return result.total_violations() == 0 ? 0 : 1;
}

void scan_logs(SoakCluster& cluster, HistoryWriter& history) {
  for (const auto& name : cluster.names()) {
    std::ifstream in(cluster.log_path(name));
    std::string line;
    std::size_t found = 0;
    while (std::getline(in, line) && found < max_log_problems_per_node) {
      for (const char* marker : log_problem_markers) {
        if (line.find(marker) != std::string::npos) {
          history.write(LogProblem{name, line});
          ++found;
          break;
        }
      }
    }
  }
}

std::string make_work_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/qim-soak-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) return {};
  return buffer.data();
}

int run(const Options& options) {
  std::error_code ignored;
  std::filesystem::create_directories(options.out, ignored);
  std::string work_dir = make_work_dir();
  if (work_dir.empty()) {
    std::fprintf(stderr, "qim-soak: cannot create a temporary directory\n");
    return 3;
  }
  RunClock clock;
  HistoryWriter history;
  std::string history_path = options.out + "/history.jsonl";
  std::string error;
  if (!history.open(history_path, error)) {
    std::fprintf(stderr, "qim-soak: %s\n", error.c_str());
    return 3;
  }

  ScheduleOptions schedule;
  schedule.seed = options.seed;
  schedule.nodes = options.nodes;
  schedule.duration_ms = options.duration_s * 1000;
  schedule.kinds = options.faults;
  schedule.interval_min_ms = options.fault_interval_min_s * 1000;
  schedule.interval_max_ms = options.fault_interval_max_s * 1000;
  schedule.overlap = options.overlap;
  auto plan = plan_faults(schedule);

  RunRecord run_record{options.seed,
                       options.nodes,
                       options.users,
                       options.groups,
                       options.rate,
                       fault_kinds_text(options.faults),
                       options.duration_s * 1000,
                       options.qimd_args,
                       options.leave_bound_s * 1000};
  history.write(run_record);
  std::string qimd_args;
  for (const auto& arg : options.qimd_args)
    qimd_args += " --qimd-arg=" + arg;
  std::printf(
      "qim-soak: seed %llu, %u nodes, %u users, %u groups, %.2f msg/s per user, faults %s, "
      "%lld s; out %s; data %s\n"
      "replay: qim-soak --seed %llu --duration-s %lld --nodes %u --users %u --groups %u "
      "--rate %g --faults %s --fault-interval-s %lld %lld%s%s\n",
      static_cast<unsigned long long>(options.seed), options.nodes, options.users, options.groups,
      options.rate, fault_kinds_text(options.faults).c_str(),
      static_cast<long long>(options.duration_s), options.out.c_str(), work_dir.c_str(),
      static_cast<unsigned long long>(options.seed), static_cast<long long>(options.duration_s),
      options.nodes, options.users, options.groups, options.rate,
      fault_kinds_text(options.faults).c_str(),
      static_cast<long long>(options.fault_interval_min_s),
      static_cast<long long>(options.fault_interval_max_s), options.overlap ? "" : " --no-overlap",
      qimd_args.c_str());
  std::printf("fault plan (%zu faults; times from the start of the chatting):\n", plan.size());
  for (const auto& fault : plan)
    std::printf("  %s\n", describe(fault).c_str());
  std::fflush(stdout);

  int status = 0;
  {
    ClusterOptions cluster_options;
    cluster_options.qimd_path = options.qimd_path;
    cluster_options.qimctl_path = options.qimctl_path;
    cluster_options.work_dir = work_dir;
    cluster_options.log_dir = options.out;
    cluster_options.extra_args = options.qimd_args;
    cluster_options.seed = options.seed;
    SoakCluster cluster(cluster_options);

    history.write(PhaseRecord{"setup", clock.now_ms()});
    if (!cluster.start(options.nodes, cluster_start_timeout, error)) {
      std::fprintf(stderr, "qim-soak: starting the cluster: %s\n", error.c_str());
      return 3;
    }
    WorkloadOptions workload_options;
    workload_options.seed = options.seed;
    workload_options.users = options.users;
    workload_options.groups = options.groups;
    workload_options.rate = options.rate;
    workload_options.request_timeout = std::chrono::milliseconds(options.request_timeout_ms);
    workload_options.endpoints = cluster.initial_endpoints();
    Workload workload(workload_options, history, clock);
    if (!workload.setup(clock.now_ms() + setup_timeout_ms, error)) {
      std::fprintf(stderr, "qim-soak: setting up users, friends and groups: %s\n", error.c_str());
      return 3;
    }
    std::printf("setup done at %lld ms; chatting for %lld s\n",
                static_cast<long long>(clock.now_ms()), static_cast<long long>(options.duration_s));
    std::fflush(stdout);

    std::int64_t run_start_ms = clock.now_ms();
    history.write(PhaseRecord{"run", run_start_ms});
    std::int64_t run_end_ms = run_start_ms + options.duration_s * 1000;
    std::int64_t retry_until_ms = run_end_ms + options.drain_s * 1000;
    NemesisOptions nemesis_options;
    nemesis_options.leave_bound_ms = options.leave_bound_s * 1000;
    nemesis_options.run_start_ms = run_start_ms;
    nemesis_options.max_out = max_nodes_out(options.nodes);
    Nemesis nemesis(cluster, history, clock, plan, nemesis_options);
    nemesis.start();
    workload.start(run_end_ms, retry_until_ms);
    std::this_thread::sleep_until(clock.at(run_end_ms));

    history.write(PhaseRecord{"drain", clock.now_ms()});
    auto up = nemesis.stop_and_heal();
    std::int64_t heal_deadline_ms = clock.now_ms() + options.heal_s * 1000;
    bool healed = false;
    while (!(healed = cluster.converged(up) && cluster.replicated(up)) &&
           clock.now_ms() < heal_deadline_ms)
      std::this_thread::sleep_for(heal_poll);
    std::printf("run over at %lld ms; cluster %s; draining retries\n",
                static_cast<long long>(clock.now_ms()),
                healed ? "answers again" : "did NOT converge in time");
    std::fflush(stdout);
    workload.join();

    history.write(PhaseRecord{"settle", clock.now_ms()});
    workload.settle(settle_quiet, clock.now_ms() + settle_timeout_ms);

    history.write(PhaseRecord{"readback", clock.now_ms()});
    std::printf("reading everything back at %lld ms\n", static_cast<long long>(clock.now_ms()));
    std::fflush(stdout);
    ReadBackOptions read_back;
    read_back.endpoints = cluster.initial_endpoints();
    read_back.deadline_ms = clock.now_ms() + read_back_timeout_ms;
    read_everything_back(workload.user_specs(), workload.group_specs(), read_back, history, clock);

    for (const auto& name : cluster.names()) {
      auto* node = cluster.find(name);
      if (node == nullptr || !node->running()) continue;
      node->kill();
      nemesis.record_expected_exit(name, -1, SIGKILL);
    }
    scan_logs(cluster, history);
    history.write(PhaseRecord{"done", clock.now_ms()});
    history.flush();
  }

  History recorded;
  if (!read_history(history_path, recorded, error)) {
    std::fprintf(stderr, "qim-soak: %s\n", error.c_str());
    return 3;
  }
  CheckResult result = check_history(recorded);
  std::string report = format_report(recorded, result, options.examples_per_kind);
  std::ofstream(options.out + "/report.txt") << report;
  std::fputs(report.c_str(), stdout);
  std::printf("%s\n", format_summary_line(recorded, result).c_str());
  status = result.total_violations() == 0 ? 0 : 1;
  if (!options.keep) std::filesystem::remove_all(work_dir, ignored);
  return status;
}

// The nodes are this process's children and would outlive it, paused ones included: on SIGINT,
// SIGTERM or SIGHUP every child is killed and the soak exits (128 + the signal). The signals are
// blocked before any thread starts, so only the waiting thread takes them; the nodes start with
// none blocked (ChildProcess).
void kill_nodes_when_interrupted() {
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP})
    sigaddset(&signals, signal);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::thread([signals] {
    int signal = 0;
    if (sigwait(&signals, &signal) != 0) return;
    std::fprintf(stderr, "qim-soak: interrupted (signal %d); killing the nodes\n", signal);
    std::string self = std::to_string(::getpid());
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", ignored)) {
      std::ifstream stat(entry.path() / "stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      // pid (comm) state ppid ...; comm may hold spaces and parentheses: parse after the last ')'.
      std::size_t close = line.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(line.substr(close + 1));
      std::string state, parent;
      rest >> state >> parent;
      if (parent == self) ::kill(std::stoi(entry.path().filename().string()), SIGKILL);
    }
    std::_Exit(128 + signal);
  }).detach();
}

}  // namespace
}  // namespace qim::soak

int main(int argc, char** argv) {
  // A node that dies while a client writes to it must not end the soak.
  ::signal(SIGPIPE, SIG_IGN);
  qim::soak::kill_nodes_when_interrupted();
  auto parsed = qim::soak::parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  const auto& options = *parsed.options;
  if (!options.check_history.empty()) return qim::soak::check_saved(options);
  return qim::soak::run(options);
}
