#include "qim-bench/login_workload.h"

#include <memory>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "qim-bench/bench_connection.h"
#include "qim-bench/clock.h"
#include "qim-bench/population.h"
#include "qim-bench/wait_group.h"

namespace qim::bench {
namespace {

class LoginShard {
 public:
  LoginShard(asio::io_context& io, const Options& options, std::uint32_t shard, std::uint32_t users)
      : io_(io), options_(options), names_(options.prefix, shard, users), tokens_(users) {}

  asio::awaitable<void> run(Coordinator& coordinator, ShardResult& result) {
    if (Error error = co_await register_users(io_, options_, names_)) {
      result.error = std::move(error);
      coordinator.fail_from(0);
      co_return;
    }
    coordinator.arrive(0);
    std::uint64_t start_ns = co_await coordinator.released(io_, 0);
    if (start_ns == Coordinator::aborted) co_return;
    auto duration_ns =
        static_cast<std::uint64_t>(std::chrono::nanoseconds(options_.duration).count());
    co_await storm(false, start_ns, start_ns + duration_ns, result);
    co_await storm(true, start_ns + duration_ns, start_ns + 2 * duration_ns, result);
  }

 private:
  asio::awaitable<void> storm(bool with_token, std::uint64_t start_ns, std::uint64_t end_ns,
                              ShardResult& result) {
    asio::steady_timer timer(io_, from_ns(start_ns));
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    std::string mode = with_token ? "token" : "password";
    Histogram& latency = result.histograms[mode + "_login_latency"];
    std::uint64_t& logins = result.counters[mode + "_logins"];
    std::map<std::string, std::uint64_t>& failures = result.ack_errors;
    next_user_ = 0;
    bool any_token = false;
    for (const auto& token : tokens_)
      any_token = any_token || !token.empty();
    if (with_token && !any_token) co_return;  // the password storm failed throughout
    WaitGroup workers(io_);
    workers.add(options_.login_concurrency);
    for (std::uint32_t worker = 0; worker < options_.login_concurrency; ++worker) {
      asio::co_spawn(
          io_,
          [&, worker]() -> asio::awaitable<void> {
            Outbox outbox;
            BenchConnection connection(io_, outbox, worker, 4096);
            while (now_ns() < end_ns) {
              std::uint32_t user = next_user_++ % names_.size();
              if (with_token && tokens_[user].empty()) continue;
              std::uint64_t begin = now_ns();
              Error error = co_await connection.open(home_guess(options_, user), options_);
              if (!error) {
                const std::string& secret = with_token ? tokens_[user] : options_.password;
                error = co_await login(connection, options_, names_[user], secret, with_token,
                                       with_token ? nullptr : &tokens_[user]);
              }
              std::uint64_t done = now_ns();
              connection.close(/*reset=*/true);
              if (error) {
                ++failures[fmt::format("{}_login_{}", with_token ? "token" : "password",
                                       errc_name(error.code))];
                continue;
              }
              if (done < end_ns) {
                ++logins;
                latency.record(done - begin);
              }
            }
            workers.done();
          },
          asio::detached);
    }
    co_await workers.wait();
  }

  asio::io_context& io_;
  const Options& options_;
  UserNames names_;
  std::vector<std::string> tokens_;
  std::uint32_t next_user_ = 0;
};

}  // namespace

asio::awaitable<void> run_login_shard(asio::io_context& io, const Options& options,
                                      std::uint32_t shard, std::uint32_t users,
                                      Coordinator& coordinator, ShardResult& result) {
  LoginShard workload(io, options, shard, users);
  co_await workload.run(coordinator, result);
}

}  // namespace qim::bench
