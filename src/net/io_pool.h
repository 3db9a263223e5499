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
  // With `main_loop` and one I/O thread, that loop (run by its owner's thread, which must
  // outlive the pool) is the pool's only context: a node then handles a message on one thread,
  // with no hand-off between threads on its way.
  IoPool(std::size_t io_thread_count, std::size_t blocking_thread_count, core::Logger& logger,
         asio::io_context* main_loop = nullptr);
  ~IoPool();

  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  std::size_t size() const { return contexts_.size(); }
  asio::io_context& context(std::size_t index) { return *contexts_[index]; }
  // Whether context(0) is the main loop given at construction.
  bool shares_main_loop() const { return owned_.empty(); }
  asio::thread_pool& blocking_pool() { return blocking_pool_; }

  // Starts a thread for each context the pool owns.
  void start();
  // Thread-safe; stops the contexts the pool owns. Pending handlers are left in place
  // (destroyed with the io_contexts).
  void stop();
  void join();

 private:
  using WorkGuard = asio::executor_work_guard<asio::io_context::executor_type>;

  core::Logger& logger_;
  std::vector<asio::io_context*> contexts_;
  std::vector<std::unique_ptr<asio::io_context>> owned_;  // those run by threads_
  std::vector<std::optional<WorkGuard>> work_guards_;     // keep run() going while idle
  std::vector<std::thread> threads_;
  asio::thread_pool blocking_pool_;  // declared last: destroyed (joined) first
};

}  // namespace qim::net
