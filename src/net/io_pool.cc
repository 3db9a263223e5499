#include "net/io_pool.h"

#include <cassert>
#include <exception>
#include <string>

#include "core/thread_name.h"

namespace qim::net {

IoPool::IoPool(std::size_t io_thread_count, std::size_t blocking_thread_count, core::Logger& logger,
               asio::io_context* main_loop)
    : logger_(logger), blocking_pool_(blocking_thread_count) {
  assert(io_thread_count >= 1 && io_thread_count <= max_io_threads);
  assert(blocking_thread_count >= 1);
  if (main_loop != nullptr && io_thread_count == 1) {
    contexts_.push_back(main_loop);
    return;
  }
  contexts_.reserve(io_thread_count);
  work_guards_.resize(io_thread_count);
  for (std::size_t index = 0; index < io_thread_count; ++index) {
    // Concurrency hint 1: each context is run by exactly one thread.
    owned_.push_back(std::make_unique<asio::io_context>(1));
    contexts_.push_back(owned_.back().get());
    work_guards_[index].emplace(owned_.back()->get_executor());
  }
}

IoPool::~IoPool() {
  stop();
  join();
  blocking_pool_.stop();
  blocking_pool_.join();
  // owned_ go last (member order): their destructors destroy whatever is still pending.
}

void IoPool::start() {
  threads_.reserve(owned_.size());
  for (std::size_t index = 0; index < owned_.size(); ++index) {
    threads_.emplace_back([this, index, &context = *owned_[index]] {
      core::name_this_thread("qim-io-" + std::to_string(index));
      for (;;) {
        try {
          context.run();
          return;
        } catch (const std::exception& exception) {
          // A handler threw; the connection it belonged to is gone, the thread carries on.
          logger_.error("net", "I/O handler threw: {}", exception.what());
        }
      }
    });
  }
}

void IoPool::stop() {
  for (auto& context : owned_)
    context->stop();
}

void IoPool::join() {
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  threads_.clear();
  for (auto& guard : work_guards_)
    guard.reset();
}

}  // namespace qim::net
