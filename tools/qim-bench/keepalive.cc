#include "qim-bench/keepalive.h"

#include <chrono>

namespace qim::bench {

asio::awaitable<void> keep_alive(asio::io_context& io,
                                 std::vector<std::unique_ptr<BenchConnection>>& connections,
                                 Outbox& outbox, const bool& stop) {
  asio::steady_timer timer(io);
  while (!stop) {
    auto now = std::chrono::steady_clock::now();
    bool queued = false;
    for (auto& connection : connections)
      queued = connection->ping_if_quiet(now) || queued;
    if (queued) outbox.flush();
    timer.expires_after(std::chrono::milliseconds(500));
    std::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

}  // namespace qim::bench
