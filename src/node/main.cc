// qimd: wires the modules together. Flags: config.h. Threads:
//   main thread  the control io_context: signals, the client acceptor, maintenance, shutdown,
//                and the whole membership shell (SWIM core, gossip sockets, push-pulls);
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
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <system_error>

#include "auth/cluster_key.h"
#include "auth/password.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/client_listener.h"
#include "net/endpoint.h"
#include "net/io_pool.h"
#include "node/config.h"
#include "node/membership_node.h"
#include "service/im_service.h"
#include "store/rocks_kv.h"

namespace qim::node {
namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
constexpr std::chrono::minutes prune_interval{10};

struct BoundPorts {
  std::uint16_t client = 0;
  std::uint16_t gossip = 0;
  std::uint16_t admin = 0;
};

// Writes "<client port>\n" (all a reader of the first line needs), then "gossip <port>\n" and
// "admin <port>\n", to `path` atomically (a reader never sees a partial file).
bool write_port_file(const std::string& path, const BoundPorts& ports, std::string& error) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << ports.client << '\n'
        << "gossip " << ports.gossip << '\n'
        << "admin " << ports.admin << '\n';
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

// Runs until SIGINT or SIGTERM, then leaves the cluster (so peers see "left", not "dead"),
// shuts the client listener down and stops the membership shell. After the first signal the
// default disposition is restored, so a second one ends the process at once.
// REQUIRES: `signals` (SIGINT, SIGTERM) lives on the control executor.
asio::awaitable<void> supervise(asio::signal_set& signals, net::ClientListener& listener,
                                MembershipNode& membership, service::ImService& service,
                                const core::Clock& clock, net::IoPool& pool, core::Logger& logger) {
  using namespace asio::experimental::awaitable_operators;
  auto outcome = co_await (wait_for_signal(signals) ||
                           run_maintenance(service, clock, pool.blocking_pool(), logger));
  int signal_number = outcome.index() == 0 ? std::get<0>(outcome) : 0;
  asio::error_code ignored;
  signals.clear(ignored);
  logger.info("node", "signal {} received, shutting down (a second signal forces exit)",
              signal_number);
  co_await membership.leave();
  co_await listener.stop();
  co_await membership.stop();
}

// Binds the membership's gossip sockets. An address derived from --listen (not given
// explicitly) that is taken falls back to a free port, so several nodes on one host need no
// gossip flags; an explicit one must bind.
bool bind_gossip(const Config& config, MembershipOptions& options,
                 std::unique_ptr<MembershipNode>& membership,
                 const std::function<std::unique_ptr<MembershipNode>(MembershipOptions)>& make,
                 core::Logger& logger, std::string& error) {
  membership = make(options);
  if (membership->bind(error)) return true;
  if (config.gossip_listen_given || options.gossip_listen.port == 0) return false;
  logger.warn("node", "{}; gossiping on a free port instead", error);
  options.gossip_listen.port = 0;
  error.clear();
  membership = make(options);
  return membership->bind(error);
}

// From an open store to a stopped server. Returns the exit code.
int serve(const Config& config, store::Kv& kv, const auth::ClusterKey& cluster_key,
          std::uint64_t restart_epoch, core::Logger& logger) {
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

  MembershipOptions membership_options;
  membership_options.node_name = config.service.node_name;
  membership_options.gossip_listen = config.gossip_listen;
  membership_options.client_address = net::format_address(bound.address(), bound.port());
  membership_options.seeds = config.seeds;
  membership_options.swim = config.swim;
  std::unique_ptr<MembershipNode> membership;
  auto make_membership = [&](MembershipOptions options) {
    return std::make_unique<MembershipNode>(
        control.get_executor(), cluster_key, logger, std::move(options), restart_epoch,
        std::random_device{}() * 0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(restart_epoch));
  };
  if (!bind_gossip(config, membership_options, membership, make_membership, logger, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  // The sockets are bound (the kernel queues connections and datagrams) before the port file
  // appears.
  BoundPorts ports{bound.port(), membership->gossip_port(), 0};
  if (!config.port_file.empty() && !write_port_file(config.port_file, ports, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  pool.start();
  listener.start();
  logger.info("node", "listening on {}:{}", bound.address().to_string(), bound.port());
  membership->start();

  int exit_code = exit_ok;
  asio::co_spawn(control, supervise(signals, listener, *membership, service, clock, pool, logger),
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
  std::string key_error, key_warning;
  bool default_key = config.cluster_key_file.empty();
  std::string key_path =
      default_key ? config.data_directory + "/cluster.key" : config.cluster_key_file;
  auto cluster_key = auth::load_or_create_key_file(key_path, default_key, key_error, key_warning);
  if (!cluster_key) {
    logger.error("node", "{}", key_error);
    return exit_failure;
  }
  if (!key_warning.empty()) logger.warn("node", "{}", key_warning);
  std::uint64_t restart_epoch = 0;
  std::string epoch_error;
  if (!next_restart_epoch(config.data_directory, core::SystemClock().wall_ms(), restart_epoch,
                          epoch_error)) {
    logger.error("node", "{}", epoch_error);
    return exit_failure;
  }
  int exit_code = serve(config, *kv, *cluster_key, restart_epoch, logger);
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
