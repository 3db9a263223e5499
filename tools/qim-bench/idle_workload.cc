#include "qim-bench/idle_workload.h"

#include <map>
#include <memory>
#include <vector>

#include "qim-bench/bench_connection.h"
#include "qim-bench/population.h"
#include "qim-bench/wait_group.h"

namespace qim::bench {
namespace {

constexpr std::size_t idle_read_buffer_bytes = 1024;
// Each connection pings this often so the server's idle timeout (default 90 s) never fires
// however long the set-up takes.
constexpr std::uint32_t ping_period_s = 30;

class IdleShard final : public FrameSink {
 public:
  IdleShard(asio::io_context& io, const Options& options, std::uint32_t shard,
            std::uint32_t connections)
      : io_(io), options_(options), names_(options.prefix, shard, connections) {
    for (std::uint32_t i = 0; i < connections; ++i)
      connections_.push_back(
          std::make_unique<BenchConnection>(io, outbox_, i, idle_read_buffer_bytes));
  }

  asio::awaitable<void> run(Coordinator& coordinator, ShardResult& result) {
    if (Error error = co_await register_users(io_, options_, names_)) {
      result.error = std::move(error);
      coordinator.fail_from(0);
      co_return;
    }
    coordinator.arrive(0);
    if (co_await coordinator.released(io_, 0) == Coordinator::aborted) co_return;
    if (Error error = co_await connect_users(io_, options_, names_, connections_)) {
      result.error = std::move(error);
      coordinator.fail_from(1);
      co_return;
    }
    WaitGroup serving(io_);
    serving.add(connections_.size());
    for (auto& connection : connections_) {
      asio::co_spawn(
          io_,
          [this, &serving, &connection]() -> asio::awaitable<void> {
            co_await connection->serve(*this);
            serving.done();
          },
          asio::detached);
    }
    coordinator.arrive(1);
    bool stop = false;
    asio::co_spawn(io_, pinger(stop), asio::detached);
    co_await coordinator.released(io_, 2);
    stop = true;
    stopping_ = true;
    for (auto& connection : connections_)
      connection->close();
    co_await serving.wait();
    co_await wait_for(std::chrono::milliseconds(1100));  // the pinger sees `stop`
    std::uint64_t open = connections_.size() - closed_;
    result.counters["connections"] = connections_.size();
    result.counters["connections_closed_by_server"] = closed_;
    result.counters["connections_open"] = open;
    result.error_frames = error_frames_;
    result.close_reasons = close_reasons_;
  }

  void on_frame(BenchConnection&, const wire::Envelope& envelope) override {
    if (envelope.body_type() == wire::Body::Error)
      ++error_frames_[errc_name(proto::from_wire(envelope.body_as_Error()->code()))];
  }
  void on_closed(BenchConnection&, const Error& reason) override {
    if (stopping_) return;
    ++closed_;
    ++close_reasons_[reason.message];
  }
  void on_batch_end() override { outbox_.flush(); }

 private:
  asio::awaitable<void> wait_for(std::chrono::milliseconds duration) {
    asio::steady_timer timer(io_, duration);
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }

  asio::awaitable<void> pinger(const bool& stop) {
    for (std::uint64_t tick = 0; !stop; ++tick) {
      for (std::size_t i = tick % ping_period_s; i < connections_.size(); i += ping_period_s) {
        BenchConnection& connection = *connections_[i];
        if (!connection.is_open()) continue;
        proto::FrameBuilder& builder = connection.builder();
        builder.reset();
        connection.queue(
            builder.finish(connection.next_req_id(), wire::CreatePing(builder.fbb(), tick)));
      }
      outbox_.flush();
      co_await wait_for(std::chrono::milliseconds(1000));
    }
  }

  asio::io_context& io_;
  const Options& options_;
  UserNames names_;
  Outbox outbox_;
  std::vector<std::unique_ptr<BenchConnection>> connections_;
  bool stopping_ = false;
  std::uint64_t closed_ = 0;
  std::map<std::string, std::uint64_t> error_frames_;
  std::map<std::string, std::uint64_t> close_reasons_;
};

}  // namespace

asio::awaitable<void> run_idle_shard(asio::io_context& io, const Options& options,
                                     std::uint32_t shard, std::uint32_t connections,
                                     Coordinator& coordinator, ShardResult& result) {
  IdleShard workload(io, options, shard, connections);
  co_await workload.run(coordinator, result);
}

}  // namespace qim::bench
