#include "qim-bench/idle_workload.h"

#include <map>
#include <memory>
#include <vector>

#include "qim-bench/bench_connection.h"
#include "qim-bench/keepalive.h"
#include "qim-bench/population.h"
#include "qim-bench/wait_group.h"

namespace qim::bench {
namespace {

constexpr std::size_t idle_read_buffer_bytes = 1024;

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
    // Pings whichever connection is quiet, from its first connect to the end, however long
    // the set-up takes.
    bool stop = false;
    WaitGroup pinging(io_);
    pinging.add();
    asio::co_spawn(
        io_,
        [this, &stop, &pinging]() -> asio::awaitable<void> {
          co_await keep_alive(io_, connections_, outbox_, stop);
          pinging.done();
        },
        asio::detached);
    if (Error error = co_await connect_users(io_, options_, names_, connections_)) {
      result.error = std::move(error);
      coordinator.fail_from(1);
      stop = true;
      co_await pinging.wait();
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
    co_await coordinator.released(io_, 2);
    stop = true;
    stopping_ = true;
    for (auto& connection : connections_)
      connection->close();
    co_await serving.wait();
    co_await pinging.wait();
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
