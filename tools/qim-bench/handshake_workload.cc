#include "qim-bench/handshake_workload.h"

#include <chrono>

#include "qim-bench/bench_connection.h"
#include "qim-bench/clock.h"
#include "qim-bench/wait_group.h"

namespace qim::bench {

asio::awaitable<void> run_handshake_shard(asio::io_context& io, const Options& options,
                                          std::uint32_t shard, Coordinator& coordinator,
                                          ShardResult& result) {
  coordinator.arrive(0);
  std::uint64_t start_ns = co_await coordinator.released(io, 0);
  if (start_ns == Coordinator::aborted) co_return;
  const std::uint64_t end_ns =
      start_ns + static_cast<std::uint64_t>(std::chrono::nanoseconds(options.duration).count());
  {
    asio::steady_timer timer(io, from_ns(start_ns));
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  Histogram& latency = result.histograms["handshake_latency"];
  std::uint64_t& handshakes = result.counters["handshakes"];
  WaitGroup workers(io);
  workers.add(options.login_concurrency);
  for (std::uint32_t worker = 0; worker < options.login_concurrency; ++worker) {
    asio::co_spawn(
        io,
        [&, worker]() -> asio::awaitable<void> {
          Outbox outbox;
          BenchConnection connection(io, outbox, worker, 4096);
          // Spread over the servers like the users of the other workloads.
          std::uint32_t next = shard * options.login_concurrency + worker;
          while (now_ns() < end_ns) {
            const Endpoint& server = options.servers[next++ % options.servers.size()];
            std::uint64_t begin = now_ns();
            Error error = co_await connection.open(server, options);
            std::uint64_t done = now_ns();
            connection.close(/*reset=*/true);
            if (error) {
              ++result.ack_errors[std::string("handshake_") + errc_name(error.code)];
              continue;
            }
            if (done < end_ns) {
              ++handshakes;
              latency.record(done - begin);
            }
          }
          workers.done();
        },
        asio::detached);
  }
  co_await workers.wait();
}

}  // namespace qim::bench
