#pragma once
// Keeps a shard's connections alive while the benchmark keeps them quiet (idle users,
// receivers that never send, everyone during the set-up): the server closes a connection it
// has heard nothing from for two heartbeat intervals and a second, as it should a dead client.
#include <memory>
#include <vector>

#include <asio.hpp>

#include "qim-bench/bench_connection.h"

namespace qim::bench {

// Every half second, pings the connections that sent nothing for half their heartbeat interval
// (BenchConnection::ping_if_quiet), until `stop` is set. `connections` and `outbox` outlive it.
asio::awaitable<void> keep_alive(asio::io_context& io,
                                 std::vector<std::unique_ptr<BenchConnection>>& connections,
                                 Outbox& outbox, const bool& stop);

}  // namespace qim::bench
