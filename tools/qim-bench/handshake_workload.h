#pragma once
// handshake: connection set-up rate. For --duration seconds, --login-concurrency connections
// per shard each connect, complete a TLS handshake (with --tls; a full one every time, no session
// resumption), exchange Hello/HelloOk (so the server has finished its side), and close with RST.
// Latency is from connect to HelloOk. Without --tls it is the plaintext baseline.
// Phases: 0 ready (nothing to set up); its release is the start time.
#include <cstdint>

#include <asio.hpp>

#include "qim-bench/coordinator.h"
#include "qim-bench/options.h"
#include "qim-bench/shard_result.h"

namespace qim::bench {

asio::awaitable<void> run_handshake_shard(asio::io_context& io, const Options& options,
                                          std::uint32_t shard, Coordinator& coordinator,
                                          ShardResult& result);

}  // namespace qim::bench
