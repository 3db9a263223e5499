// qim-bench: drives one or more qimd nodes with simulated users from one process and reports
// throughput, latency, correctness counts and the server's CPU and memory.
#include <sys/prctl.h>

#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/core.h>
#include <asio.hpp>
#include <asio/ssl.hpp>

#include "client/tls_client_context.h"

#include "qim-bench/clock.h"
#include "qim-bench/coordinator.h"
#include "qim-bench/fanout_workload.h"
#include "qim-bench/handshake_workload.h"
#include "qim-bench/idle_workload.h"
#include "qim-bench/login_workload.h"
#include "qim-bench/o2o_workload.h"
#include "qim-bench/options.h"
#include "qim-bench/process_stats.h"
#include "qim-bench/report.h"
#include "qim-bench/shard_result.h"

namespace qim::bench {
namespace {

// The share of `total` that shard `shard` of `shards` gets.
std::uint32_t share(std::uint32_t total, std::uint32_t shard, std::uint32_t shards) {
  return total / shards + (shard < total % shards ? 1 : 0);
}

asio::awaitable<void> run_shard(asio::io_context& io, const Options& options, std::uint32_t shard,
                                Coordinator& coordinator, ShardResult& result) {
  switch (options.workload) {
    case Workload::o2o:
      co_await run_o2o_shard(io, options, shard, share(options.users, shard, options.threads),
                             coordinator, result);
      break;
    case Workload::fanout:
      co_await run_fanout_shard(io, options, shard, coordinator, result);
      break;
    case Workload::idle:
      co_await run_idle_shard(io, options, shard,
                              share(options.connections, shard, options.threads), coordinator,
                              result);
      break;
    case Workload::login:
      co_await run_login_shard(io, options, shard, share(options.users, shard, options.threads),
                               coordinator, result);
      break;
    case Workload::handshake:
      co_await run_handshake_shard(io, options, shard, coordinator, result);
      break;
  }
}

void sleep_until_ns(std::uint64_t ns) {
  std::this_thread::sleep_until(from_ns(ns));
}

std::uint64_t ns_of(std::chrono::milliseconds duration) {
  return static_cast<std::uint64_t>(std::chrono::nanoseconds(duration).count());
}

// CPU and memory of both processes over a window.
struct Window {
  std::optional<ProcessSample> server_begin, server_end, self_begin, self_end;
  double seconds = 0;
};

struct Samplers {
  const Options& options;
  // The sum over every server process; nullopt when there is none or one is gone.
  std::optional<ProcessSample> server() const {
    if (options.server_pids.empty()) return std::nullopt;
    ProcessSample sum;
    sum.run_queue_wait_seconds = 0.0;
    for (int pid : options.server_pids) {
      auto sample = sample_process(pid);
      if (!sample) return std::nullopt;
      sum.cpu_seconds += sample->cpu_seconds;
      sum.rss_bytes += sample->rss_bytes;
      if (sample->run_queue_wait_seconds && sum.run_queue_wait_seconds) {
        *sum.run_queue_wait_seconds += *sample->run_queue_wait_seconds;
      } else {
        sum.run_queue_wait_seconds.reset();
      }
    }
    return sum;
  }
  Window begin() const { return Window{server(), std::nullopt, sample_self(), std::nullopt, 0}; }
  void end(Window& window, std::uint64_t seconds_ns) const {
    window.server_end = server();
    window.self_end = sample_self();
    window.seconds = static_cast<double>(seconds_ns) / 1e9;
  }
};

void add_cpu(Report& report, const std::string& prefix, const Window& window) {
  if (window.server_begin && window.server_end) {
    double cpu = window.server_end->cpu_seconds - window.server_begin->cpu_seconds;
    report.add(prefix + "server_cpu_seconds", cpu);
    report.add(prefix + "server_cpu_percent", 100.0 * cpu / window.seconds);
    report.add(prefix + "server_rss_bytes", window.server_end->rss_bytes);
    if (window.server_begin->run_queue_wait_seconds && window.server_end->run_queue_wait_seconds) {
      // Time the server was ready to run but other processes had its core: noise.
      report.add(prefix + "server_run_queue_wait_percent",
                 100.0 *
                     (*window.server_end->run_queue_wait_seconds -
                      *window.server_begin->run_queue_wait_seconds) /
                     window.seconds);
    }
  }
  if (window.self_begin && window.self_end) {
    double cpu = window.self_end->cpu_seconds - window.self_begin->cpu_seconds;
    report.add(prefix + "generator_cpu_seconds", cpu);
    report.add(prefix + "generator_cpu_percent", 100.0 * cpu / window.seconds);
    if (window.self_begin->run_queue_wait_seconds && window.self_end->run_queue_wait_seconds) {
      report.add(prefix + "generator_run_queue_wait_percent",
                 100.0 *
                     (*window.self_end->run_queue_wait_seconds -
                      *window.self_begin->run_queue_wait_seconds) /
                     window.seconds);
    }
  }
}

void add_errors(Report& report, const ShardResult& result) {
  report.add_counts("request_errors", result.ack_errors);
  report.add_counts("error_frames", result.error_frames);
  report.add_counts("connections_closed", result.close_reasons);
}

void add_messaging(Report& report, const Options& options, const ShardResult& result,
                   const Window& window) {
  auto counter = [&](const char* name) {
    auto it = result.counters.find(name);
    return it == result.counters.end() ? std::uint64_t{0} : it->second;
  };
  double seconds = static_cast<double>(ns_of(options.duration)) / 1e9;
  report.add("mode", options.rate > 0 ? std::string("rate") : std::string("windowed"));
  report.add("rate", options.rate);
  report.add("window", std::uint64_t{options.effective_window()});
  report.add("body_bytes", std::uint64_t{options.body_bytes});
  report.add("duration_s", seconds);
  report.add("deliveries_per_second",
             static_cast<double>(counter("deliveries_in_window")) / seconds);
  report.add("sends_per_second", static_cast<double>(counter("sent_in_window")) / seconds);
  report.add_latency("latency", result.histograms.at("latency"));
  report.add_latency("ack_latency", result.histograms.at("ack_latency"));
  for (const char* name : {"sent", "acked", "deliveries", "deliveries_in_window", "finished",
                           "ack_failed", "unacked", "skipped"})
    report.add(name, counter(name));
  for (const char* name : {"lost", "duplicated", "out_of_order", "misrouted"})
    report.add_check(name, counter(name));
  add_errors(report, result);
  add_cpu(report, "", window);
  if (window.server_begin && window.server_end) {
    double cpu = window.server_end->cpu_seconds - window.server_begin->cpu_seconds;
    report.add("deliveries_per_server_cpu_second",
               cpu > 0 ? static_cast<double>(counter("deliveries_in_window")) / cpu : 0.0);
  }
}

int run(const Options& options) {
  raise_open_files_limit();
  Coordinator coordinator(options.threads);
  std::vector<ShardResult> results(options.threads);
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<std::thread> threads;
  for (std::uint32_t shard = 0; shard < options.threads; ++shard) {
    contexts.push_back(std::make_unique<asio::io_context>(1));
    asio::io_context& io = *contexts.back();
    asio::co_spawn(io, run_shard(io, options, shard, coordinator, results[shard]),
                   [&coordinator](std::exception_ptr error) {
                     if (!error) return;
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& exception) {
                       std::fprintf(stderr, "qim-bench: shard failed: %s\n", exception.what());
                     }
                     coordinator.fail_from(0);
                   });
    threads.emplace_back([&io] {
      // Paced sends wake at their intended time, not up to 50 us later (the default slack).
      prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
      io.run();
    });
  }

  Samplers samplers{options};
  Report report;
  report.add("workload", std::string(workload_name(options.workload)));
  report.add("threads", std::uint64_t{options.threads});
  report.add("prefix", options.prefix);
  report.add("tls", std::string(options.tls_context ? "yes" : "no"));
  Window window;
  std::uint64_t duration_ns = ns_of(options.duration);
  switch (options.workload) {
    case Workload::o2o:
    case Workload::fanout: {
      if (!coordinator.wait_all(0)) break;
      std::uint64_t start = now_ns() + 50'000'000;
      coordinator.release(0, start);
      std::uint64_t warm_end = start + ns_of(options.warmup);
      sleep_until_ns(warm_end);
      window = samplers.begin();
      sleep_until_ns(warm_end + duration_ns);
      samplers.end(window, duration_ns);
      break;
    }
    case Workload::idle: {
      if (!coordinator.wait_all(0)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto before = samplers.server();
      coordinator.release(0, now_ns());
      if (!coordinator.wait_all(1)) break;
      coordinator.release(1, now_ns());
      std::this_thread::sleep_for(options.warmup);  // let the server settle
      window = samplers.begin();
      std::this_thread::sleep_for(options.duration);
      samplers.end(window, duration_ns);
      coordinator.release(2, now_ns());
      if (before && window.server_end) {
        double growth = static_cast<double>(window.server_end->rss_bytes) -
                        static_cast<double>(before->rss_bytes);
        report.add("server_rss_before_bytes", before->rss_bytes);
        report.add("server_rss_after_bytes", window.server_end->rss_bytes);
        report.add("server_rss_per_connection_bytes", growth / options.connections);
      }
      break;
    }
    case Workload::handshake: {
      if (!coordinator.wait_all(0)) break;
      std::uint64_t start = now_ns() + 50'000'000;
      coordinator.release(0, start);
      sleep_until_ns(start);
      window = samplers.begin();
      sleep_until_ns(start + duration_ns);
      samplers.end(window, duration_ns);
      break;
    }
    case Workload::login: {
      if (!coordinator.wait_all(0)) break;
      std::uint64_t start = now_ns() + 50'000'000;
      coordinator.release(0, start);
      sleep_until_ns(start);
      window = samplers.begin();
      sleep_until_ns(start + duration_ns);
      samplers.end(window, duration_ns);
      Window token_window = samplers.begin();
      sleep_until_ns(start + 2 * duration_ns);
      samplers.end(token_window, duration_ns);
      add_cpu(report, "password_", window);
      add_cpu(report, "token_", token_window);
      window = {};
      break;
    }
  }
  if (coordinator.failed()) coordinator.abort_all();
  for (auto& thread : threads)
    thread.join();

  ShardResult merged;
  for (const auto& result : results)
    merged.merge(result);
  if (merged.error || coordinator.failed()) {
    std::fprintf(stderr, "qim-bench: %s setup failed: %s\n", workload_name(options.workload),
                 merged.error ? merged.error.message.c_str() : "a shard failed");
    return 1;
  }

  double seconds = static_cast<double>(duration_ns) / 1e9;
  switch (options.workload) {
    case Workload::o2o:
      report.add("users", std::uint64_t{options.users});
      report.add("contacts", std::uint64_t{options.contacts});
      add_messaging(report, options, merged, window);
      break;
    case Workload::fanout:
      report.add("members", std::uint64_t{options.members});
      add_messaging(report, options, merged, window);
      break;
    case Workload::idle:
      for (const auto& [name, value] : merged.counters)
        if (name != "connections_closed_by_server") report.add(name, value);
      report.add_check("connections_closed_by_server",
                       merged.counters["connections_closed_by_server"]);
      add_errors(report, merged);
      add_cpu(report, "", window);
      break;
    case Workload::login:
      report.add("users", std::uint64_t{options.users});
      report.add("concurrency", std::uint64_t{options.login_concurrency * options.threads});
      for (const char* mode : {"password", "token"}) {
        std::string prefix = mode;
        std::uint64_t logins = merged.counters[prefix + "_logins"];
        report.add(prefix + "_logins", logins);
        report.add(prefix + "_logins_per_second", static_cast<double>(logins) / seconds);
        report.add_latency(prefix + "_login_latency", merged.histograms[prefix + "_login_latency"]);
      }
      report.add_counts("login_failures", merged.ack_errors);
      break;
    case Workload::handshake: {
      std::uint64_t handshakes = merged.counters["handshakes"];
      report.add("concurrency", std::uint64_t{options.login_concurrency * options.threads});
      report.add("duration_s", seconds);
      report.add("handshakes", handshakes);
      report.add("handshakes_per_second", static_cast<double>(handshakes) / seconds);
      report.add_latency("handshake_latency", merged.histograms["handshake_latency"]);
      report.add_counts("handshake_failures", merged.ack_errors);
      // A refused certificate or an overloaded server: either way the rate means little.
      std::uint64_t failed = 0;
      for (const auto& [code, count] : merged.ack_errors)
        failed += count;
      report.add_check("failed", failed);
      add_cpu(report, "", window);
      break;
    }
  }

  if (options.json) {
    std::printf("%s\n", report.to_json().c_str());
  } else {
    std::printf("qim-bench %s\n%s", workload_name(options.workload), report.to_text().c_str());
  }
  return report.checks_passed() ? 0 : 3;
}

}  // namespace
}  // namespace qim::bench

int main(int argc, char** argv) {
  auto parsed = qim::bench::parse_options(argc, argv);
  if (!parsed.options) return parsed.exit_code;
  qim::bench::Options& options = *parsed.options;
  if (options.tls) {
    qim::TlsOptions tls;
    tls.enabled = true;
    tls.ca_file = options.ca_file;
    tls.verify = options.verify;
    auto context = qim::client::make_tls_context(tls);
    if (!context) {
      std::fprintf(stderr, "qim-bench: %s\n", context.error().message.c_str());
      return 2;
    }
    // An idle connection holds no read or write buffer (as the server's do), so the generator
    // can keep as many TLS connections open as the idle workload asks for.
    SSL_CTX_set_mode(context.value()->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    options.tls_context = std::move(context.value());
  }
  try {
    return qim::bench::run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "qim-bench: %s\n", error.what());
    return 1;
  }
}
