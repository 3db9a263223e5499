#pragma once
// o2o: every user sends direct messages to random other users, either windowed (at most
// --window messages per sender not yet received) or paced (--rate messages/s in total).
#include <cstdint>

#include <asio.hpp>

#include "qim-bench/coordinator.h"
#include "qim-bench/options.h"
#include "qim-bench/shard_result.h"

namespace qim::bench {

asio::awaitable<void> run_o2o_shard(asio::io_context& io, const Options& options,
                                    std::uint32_t shard, std::uint32_t users,
                                    Coordinator& coordinator, ShardResult& result);

}  // namespace qim::bench
