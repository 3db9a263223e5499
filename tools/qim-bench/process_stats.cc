#include "qim-bench/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace qim::bench {
namespace {

std::optional<double> run_queue_wait(const std::string& directory);

std::optional<ProcessSample> sample(const std::string& directory) {
  std::ifstream stat_file(directory + "/stat");
  std::string line;
  if (!std::getline(stat_file, line)) return std::nullopt;
  // The command name may contain spaces and parentheses: fields start after the last ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 2));
  std::string field;
  // After ')': state is field 3; utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  for (int number = 3; number <= 15 && fields >> field; ++number) {
    if (number == 14) utime = std::stoull(field);
    if (number == 15) stime = std::stoull(field);
  }
  ProcessSample out;
  out.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));

  std::ifstream status_file(directory + "/status");
  while (std::getline(status_file, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream value(line.substr(6));
      unsigned long long kib = 0;
      value >> kib;
      out.rss_bytes = kib * 1024;
      break;
    }
  }
  out.run_queue_wait_seconds = run_queue_wait(directory);
  return out;
}

// Sums the second field (ns waiting on a run queue) of every thread's schedstat.
std::optional<double> run_queue_wait(const std::string& directory) {
  std::error_code error;
  std::filesystem::directory_iterator tasks(directory + "/task", error);
  if (error) return std::nullopt;
  unsigned long long total_ns = 0;
  bool any = false;
  for (const auto& task : tasks) {
    std::ifstream file(task.path() / "schedstat");
    unsigned long long run_ns = 0, wait_ns = 0;
    if (file >> run_ns >> wait_ns) {
      total_ns += wait_ns;
      any = true;
    }
  }
  if (!any) return std::nullopt;
  return static_cast<double>(total_ns) / 1e9;
}

}  // namespace

std::optional<ProcessSample> sample_process(int pid) {
  return sample("/proc/" + std::to_string(pid));
}

std::optional<ProcessSample> sample_self() {
  return sample("/proc/self");
}

std::uint64_t raise_open_files_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
    getrlimit(RLIMIT_NOFILE, &limit);
  }
  return limit.rlim_cur;
}

}  // namespace qim::bench
