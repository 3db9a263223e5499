#pragma once
// The meeting point of an asynchronous service call and the session that waits for it. The
// service's completion may run during the call (the inline proposer applies at once) or later
// from any thread (a replicated log); the session looks once the call has returned: a value
// already there is answered at once, without a hop through the connection's executor;
// otherwise the session arms the slot with what carries the value to its executor.
//
// Thread-safety: deliver() from any thread, once; take_or() from the session's executor, once.
#include <functional>
#include <mutex>
#include <optional>
#include <utility>

namespace qim::session {

template <typename Value>
class AsyncReply {
 public:
  // The service's completion.
  void deliver(Value value) {
    std::unique_lock lock(mutex_);
    if (!armed_) {
      value_ = std::move(value);
      return;
    }
    auto forward = std::move(forward_);
    lock.unlock();
    if (forward) forward(std::move(value));
  }

  // The value, if it came during the call. Otherwise arm() runs (under the lock, so a value
  // arriving meanwhile waits for it) and what it returns gets the value when it comes; an empty
  // function drops it.
  template <typename Arm>
  std::optional<Value> take_or(Arm arm) {
    std::lock_guard lock(mutex_);
    if (value_) return std::exchange(value_, std::nullopt);
    forward_ = arm();
    armed_ = true;
    return std::nullopt;
  }

 private:
  std::mutex mutex_;
  bool armed_ = false;                  // GUARDED_BY(mutex_)
  std::optional<Value> value_;          // GUARDED_BY(mutex_)
  std::function<void(Value)> forward_;  // GUARDED_BY(mutex_)
};

}  // namespace qim::session
