#pragma once
// The I/O threads: one io_context per thread, so everything a connection does runs on one
// thread and needs no strand. Plus the pool for blocking work (password hashing).
#include <asio.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "core/log.h"

namespace qim::net {

inline constexpr std::size_t max_io_threads = 256;

// Owned by main; outlives the listener and every connection (connections live in coroutine
// frames on these io_contexts).
// Lifecycle: constructed idle; start() launches the threads; stop() lets them return; join()
// waits. The destructor stops and joins, then joins the blocking pool (a blocking job may
// still be posting its completion to an io_context), then destroys the io_contexts.
class IoPool {
 public:
  // REQUIRES: 1 <= io_thread_count <= max_io_threads, blocking_thread_count >= 1.
  IoPool(std::size_t io_thread_count, std::size_t blocking_thread_count, core::Logger& logger);
  ~IoPool();

  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  std::size_t size() const { return contexts_.size(); }
  asio::io_context& context(std::size_t index) { return *contexts_[index]; }
  asio::thread_pool& blocking_pool() { return blocking_pool_; }

  void start();
  // Thread-safe. Pending handlers are left in place (destroyed with the io_contexts).
  void stop();
  void join();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

  core::Logger& logger_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<std::optional<WorkGuard>> work_guards_;  // keep run() going while idle
  std::vector<std::thread> threads_;
  asio::thread_pool blocking_pool_;  // declared last: destroyed (joined) first
};

}  // namespace qim::net
