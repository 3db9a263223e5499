#pragma once
// A condition for coroutines on one executor: wait_until() suspends until notify_all() or a
// deadline. Nothing is remembered: a waiter checks its condition, then waits, with no
// suspension in between (one executor, so no notification can slip through).
//
// Executor-only; the waiters must finish before the Signal is destroyed (notify_all() at
// shutdown wakes them).
#include <asio.hpp>

#include <algorithm>
#include <chrono>
#include <vector>

namespace qim::client {

class Signal {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Signal(asio::any_io_executor executor) : executor_(std::move(executor)) {}
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  // True when woken by notify_all(), false at the deadline.
  asio::awaitable<bool> wait_until(TimePoint deadline) {
    Waiter waiter{asio::steady_timer(executor_, deadline), false};
    waiters_.push_back(&waiter);
    std::error_code ignored;
    co_await waiter.timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    std::erase(waiters_, &waiter);
    co_return waiter.notified;
  }

  void notify_all() {
    for (Waiter* waiter : waiters_) {
      waiter->notified = true;
      waiter->timer.cancel();
    }
    waiters_.clear();
  }

 private:
  struct Waiter {
    asio::steady_timer timer;
    bool notified;
  };
  asio::any_io_executor executor_;
  std::vector<Waiter*> waiters_;
};

}  // namespace qim::client
