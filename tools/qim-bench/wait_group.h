#pragma once
// Waits for a set of coroutines on one io_context to finish (single-threaded).
#include <cstddef>

#include <asio.hpp>

namespace qim::bench {

class WaitGroup {
 public:
  explicit WaitGroup(asio::io_context& io) : timer_(io) {}

  void add(std::size_t count = 1) { pending_ += count; }
  void done() {
    if (pending_ > 0 && --pending_ == 0) timer_.cancel();
  }
  std::size_t pending() const { return pending_; }

  asio::awaitable<void> wait() {
    while (pending_ > 0) {
      timer_.expires_at(asio::steady_timer::time_point::max());
      std::error_code ignored;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

 private:
  asio::steady_timer timer_;
  std::size_t pending_ = 0;
};

}  // namespace qim::bench
