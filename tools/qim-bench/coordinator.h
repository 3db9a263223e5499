#pragma once
// Lines up the shards (one per thread) and the main thread that samples the processes: each
// shard arrives at a phase when its part is ready; the main thread waits for all of them,
// then releases the phase with a start time (or aborts the run). Shards poll, so a release
// needs no cross-thread wake-up.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

#include <asio.hpp>

#include "qim-bench/clock.h"

namespace qim::bench {

class Coordinator {
 public:
  static constexpr std::size_t phase_count = 4;
  static constexpr std::uint64_t aborted = 1;  // a release value that means "stop"

  explicit Coordinator(std::uint32_t shards) : shards_(shards) {}

  // Shard side.
  void arrive(std::size_t phase) { arrived_[phase].fetch_add(1); }
  // Marks the run failed and arrives at every phase from `phase` on, so nobody waits for it.
  void fail_from(std::size_t phase) {
    failed_.store(true);
    for (std::size_t p = phase; p < phase_count; ++p)
      arrive(p);
  }
  // The release value of `phase` (a steady-clock ns timestamp, or `aborted`).
  asio::awaitable<std::uint64_t> released(asio::io_context& io, std::size_t phase) {
    asio::steady_timer timer(io);
    for (;;) {
      std::uint64_t value = released_[phase].load();
      if (value != 0) co_return value;
      timer.expires_after(std::chrono::milliseconds(1));
      std::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

  // Main-thread side: blocks until every shard arrived at `phase` (true) or one failed.
  bool wait_all(std::size_t phase) {
    while (arrived_[phase].load() < shards_)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return !failed_.load();
  }
  void release(std::size_t phase, std::uint64_t value) { released_[phase].store(value); }
  void abort_all() {
    for (auto& value : released_)
      value.store(aborted);
  }
  bool failed() const { return failed_.load(); }

 private:
  const std::uint32_t shards_;
  std::array<std::atomic<std::uint32_t>, phase_count> arrived_{};
  std::array<std::atomic<std::uint64_t>, phase_count> released_{};
  std::atomic<bool> failed_{false};
};

}  // namespace qim::bench
