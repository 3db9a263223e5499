#pragma once
// fanout: one group of --members users; its owner sends, either windowed (at most --window
// group messages not yet received by every other member) or paced (--rate group messages/s).
#include <cstdint>

#include <asio.hpp>

#include "qim-bench/coordinator.h"
#include "qim-bench/options.h"
#include "qim-bench/shard_result.h"

namespace qim::bench {

asio::awaitable<void> run_fanout_shard(asio::io_context& io, const Options& options,
                                       std::uint32_t shard, Coordinator& coordinator,
                                       ShardResult& result);

}  // namespace qim::bench
