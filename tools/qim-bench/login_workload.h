#pragma once
// login: a login storm. For --duration seconds, --login-concurrency clients per shard each
// connect, say Hello, log in with the password, and close; then as long again with the
// tokens those logins returned. Latency is from connect to LoginOk (a whole client login).
// Phases: 0 users registered; its release is the start time.
#include <cstdint>

#include <asio.hpp>

#include "qim-bench/coordinator.h"
#include "qim-bench/options.h"
#include "qim-bench/shard_result.h"

namespace qim::bench {

asio::awaitable<void> run_login_shard(asio::io_context& io, const Options& options,
                                      std::uint32_t shard, std::uint32_t users,
                                      Coordinator& coordinator, ShardResult& result);

}  // namespace qim::bench
