#pragma once
// idle: --connections users logged in and silent; the server's memory per connection.
// Phases (see Coordinator): 0 users registered (main samples the server's RSS), 1 every
// connection logged in (main settles, samples, waits --duration, samples), 2 stop.
#include <cstdint>

#include <asio.hpp>

#include "qim-bench/coordinator.h"
#include "qim-bench/options.h"
#include "qim-bench/shard_result.h"

namespace qim::bench {

asio::awaitable<void> run_idle_shard(asio::io_context& io, const Options& options,
                                     std::uint32_t shard, std::uint32_t connections,
                                     Coordinator& coordinator, ShardResult& result);

}  // namespace qim::bench
