#pragma once
// Open-loop pacing: calls send(intended_ns) at `rate` per second from start_ns until end_ns,
// scheduled by time and not by replies, so a slow server cannot slow the offered load (and
// latencies measured from the intended time include any queueing: no coordinated omission).
#include <cstdint>
#include <functional>

#include <asio.hpp>

namespace qim::bench {

// `flush` runs after each burst of sends that were due together.
// REQUIRES: rate > 0; `stop` is checked before each burst and ends the pacing early.
asio::awaitable<void> pace(asio::io_context& io, double rate, std::uint64_t start_ns,
                           std::uint64_t end_ns, const std::function<void(std::uint64_t)>& send,
                           const std::function<void()>& flush, const bool& stop);

}  // namespace qim::bench
