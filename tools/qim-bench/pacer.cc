#include "qim-bench/pacer.h"

#include "qim-bench/clock.h"

namespace qim::bench {

asio::awaitable<void> pace(asio::io_context& io, double rate, std::uint64_t start_ns,
                           std::uint64_t end_ns, const std::function<void(std::uint64_t)>& send,
                           const std::function<void()>& flush, const bool& stop) {
  const double period_ns = 1e9 / rate;
  asio::steady_timer timer(io);
  std::uint64_t sent = 0;
  auto intended = [&](std::uint64_t k) {
    return start_ns + static_cast<std::uint64_t>(static_cast<double>(k) * period_ns);
  };
  while (!stop) {
    std::uint64_t next = intended(sent);
    if (next >= end_ns) break;
    std::uint64_t now = now_ns();
    if (next > now) {
      timer.expires_at(from_ns(next));
      std::error_code ignored;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      now = now_ns();
    }
    while (next <= now && next < end_ns) {
      send(next);
      next = intended(++sent);
    }
    flush();
  }
}

}  // namespace qim::bench
