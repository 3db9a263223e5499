#pragma once
// CPU time and memory of a process on this host, from /proc (Linux only).
#include <cstdint>
#include <optional>

namespace qim::bench {

struct ProcessSample {
  double cpu_seconds = 0;  // user + system
  std::uint64_t rss_bytes = 0;
  // Time its threads were runnable but waiting for a CPU (/proc/<pid>/task/*/schedstat): how
  // much other processes on its cores held it back. nullopt without schedstats.
  std::optional<double> run_queue_wait_seconds;
};

// nullopt when the process is gone or /proc is unreadable.
std::optional<ProcessSample> sample_process(int pid);
std::optional<ProcessSample> sample_self();

// Raises RLIMIT_NOFILE to its hard limit; returns the resulting soft limit.
std::uint64_t raise_open_files_limit();

}  // namespace qim::bench
