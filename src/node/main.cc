// qimd: wires the modules together. Flags: config.h. Threads:
//   main thread  the control io_context: signals, the acceptor, maintenance, shutdown;
//   I/O threads  net::IoPool, one io_context each, the client connections;
//   blocking     the IoPool's thread pool: password hashing, dedup pruning.
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>

#include "auth/password.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/client_listener.h"
#include "net/endpoint.h"
#include "net/io_pool.h"
#include "node/config.h"
#include "service/im_service.h"
#include "store/rocks_kv.h"

namespace qim::node {
namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
constexpr std::chrono::minutes prune_interval{10};

// Writes "<port>\n" to `path` atomically (a reader never sees a partial file).
bool write_port_file(const std::string& path, std::uint16_t port, std::string& error) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << port << '\n';
    out.flush();
    if (!out) {
      error = fmt::format("cannot write port file {}", temporary);
      return false;
    }
  }
  std::error_code code;
  std::filesystem::rename(temporary, path, code);
  if (code) {
    error = fmt::format("cannot rename {} to {}: {}", temporary, path, code.message());
    return false;
  }
  return true;
}

asio::awaitable<void> prune_once(service::ImService& service, std::int64_t now_ms) {
  service.prune_dedup(now_ms);
  co_return;
}

// Periodic maintenance until cancelled. The work itself runs on the blocking pool, off the
// control thread (which also accepts connections).
asio::awaitable<void> run_maintenance(service::ImService& service, const core::Clock& clock,
                                      asio::thread_pool& blocking_pool, core::Logger& logger) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(prune_interval);
    auto [error] = co_await timer.async_wait(use_nothrow);
    if (error) co_return;  // cancelled: shutting down
    auto started = std::chrono::steady_clock::now();
    co_await asio::co_spawn(blocking_pool, prune_once(service, clock.wall_ms()),
                            asio::use_awaitable);
    logger.debug("node", "pruned dedup records in {} ms",
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

asio::awaitable<int> wait_for_signal(asio::signal_set& signals) {
  auto [error, signal_number] = co_await signals.async_wait(use_nothrow);
  co_return error ? 0 : signal_number;
}

// Runs until SIGINT or SIGTERM, then shuts the listener down. After the first signal the
// default disposition is restored, so a second one ends the process at once.
// REQUIRES: `signals` (SIGINT, SIGTERM) lives on the control executor.
asio::awaitable<void> supervise(asio::signal_set& signals, net::ClientListener& listener,
                                service::ImService& service, const core::Clock& clock,
                                net::IoPool& pool, core::Logger& logger) {
  using namespace asio::experimental::awaitable_operators;
  auto outcome = co_await (wait_for_signal(signals) ||
                           run_maintenance(service, clock, pool.blocking_pool(), logger));
  int signal_number = outcome.index() == 0 ? std::get<0>(outcome) : 0;
  asio::error_code ignored;
  signals.clear(ignored);
  logger.info("node", "signal {} received, shutting down (a second signal forces exit)",
              signal_number);
  co_await listener.stop();
}

// From an open store to a stopped server. Returns the exit code.
int serve(const Config& config, store::Kv& kv, core::Logger& logger) {
  core::SystemClock clock;
  service::ImService service(kv, clock, logger, config.service);
  net::IoPool pool(config.io_threads, config.blocking_threads, logger);
  asio::io_context control(1);
  net::ClientListener listener(control.get_executor(), pool, service, logger, config.listener);
  // Installed before the port file appears: whoever waits for that file may signal at once.
  asio::signal_set signals(control, SIGINT, SIGTERM);

  asio::ip::tcp::endpoint endpoint;
  std::string error;
  if (!net::resolve_listen_endpoint(config.listen, endpoint, error) ||
      !listener.listen(endpoint, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }
  auto bound = listener.local_endpoint();
  // The socket is listening (the kernel queues connections) before the port file appears.
  if (!config.port_file.empty() && !write_port_file(config.port_file, bound.port(), error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  pool.start();
  listener.start();
  logger.info("node", "listening on {}:{}", bound.address().to_string(), bound.port());

  int exit_code = exit_ok;
  asio::co_spawn(control, supervise(signals, listener, service, clock, pool, logger),
                 [&](std::exception_ptr exception) {
                   if (!exception) return;
                   exit_code = exit_failure;
                   try {
                     std::rethrow_exception(exception);
                   } catch (const std::exception& failure) {
                     logger.error("node", "shutdown failed: {}", failure.what());
                   }
                 });
  control.run();  // returns when supervise() and the accept loop have finished
  pool.stop();
  pool.join();
  return exit_code;
}

int run(const Config& config) {
  core::Logger logger(config.log_level);
  if (!auth::initialize()) {
    logger.error("node", "libsodium failed to initialise");
    return exit_failure;
  }
  std::error_code directory_error;
  std::filesystem::create_directories(config.data_directory, directory_error);
  if (directory_error) {
    logger.error("node", "cannot create data directory {}: {}", config.data_directory,
                 directory_error.message());
    return exit_failure;
  }
  Error store_error;
  auto kv = store::RocksKv::open(config.data_directory, store::RocksOptions{}, store_error);
  if (!kv) {
    logger.error("node", "cannot open the store in {}: {}", config.data_directory,
                 store_error.message);
    return exit_failure;
  }
  int exit_code = serve(config, *kv, logger);
  if (Error flushed = kv->flush()) {
    logger.error("node", "flushing the store failed: {}", flushed.message);
    exit_code = exit_failure;
  }
  kv.reset();
  logger.info("node", "stopped");
  return exit_code;
}

}  // namespace
}  // namespace qim::node

int main(int argc, char** argv) {
  auto parsed = qim::node::parse_command_line(argc, argv);
  if (!parsed.config) return parsed.exit_code;
  return qim::node::run(*parsed.config);
}
