// qimd: wires the modules together. Flags: config.h. Threads:
//   main thread  the control io_context: signals, the client acceptor, maintenance, shutdown,
//                and the whole membership shell (SWIM core, gossip sockets, push-pulls);
//   I/O threads  net::IoPool, one io_context each, the client connections;
//   blocking     the IoPool's thread pool: password hashing, dedup pruning.
// Commands are applied by the inline proposer on the thread that proposes them (one process, no
// replication yet).
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <system_error>
#include <thread>

#include "admin/admin_token.h"
#include "auth/cluster_key.h"
#include "auth/password.h"
#include "core/clock.h"
#include "core/log.h"
#include "net/admin_listener.h"
#include "net/client_listener.h"
#include "net/endpoint.h"
#include "net/io_pool.h"
#include "net/peer_links.h"
#include "node/admin_relay.h"
#include "node/atomic_file.h"
#include "node/cluster_peers.h"
#include "node/config.h"
#include "node/membership_node.h"
#include "node/node_admin_hooks.h"
#include "node/placement_tracker.h"
#include "node/rebalancer.h"
#include "service/im_service.h"
#include "service/inline_proposer.h"
#include "store/rocks_kv.h"

namespace qim::node {
namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);
// A graceful leave hands everything off first, for at most this long.
constexpr std::chrono::seconds drain_timeout{30};

struct BoundPorts {
  std::uint16_t client = 0;
  std::uint16_t gossip = 0;
  std::uint16_t admin = 0;
  std::uint16_t peer = 0;
};

// Writes "<client port>\n" (all a reader of the first line needs), then "gossip <port>\n" and
// "admin <port>\n" and "peer <port>\n", to `path` atomically (a reader never sees a partial file).
bool write_port_file(const std::string& path, const BoundPorts& ports, std::string& error) {
  return write_file_atomically(path,
                               fmt::format("{}\ngossip {}\nadmin {}\npeer {}\n", ports.client,
                                           ports.gossip, ports.admin, ports.peer),
                               error);
}

asio::awaitable<std::size_t> prune_once(service::ImService& service, std::int64_t now_ms) {
  co_return service.prune_dedup(now_ms);
}

// Periodic maintenance until cancelled. The work itself runs on the blocking pool, off the
// control thread (which also accepts connections).
asio::awaitable<void> run_maintenance(service::ImService& service, const core::Clock& clock,
                                      std::chrono::milliseconds interval,
                                      asio::thread_pool& blocking_pool, core::Logger& logger) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    auto [error] = co_await timer.async_wait(use_nothrow);
    if (error) co_return;  // cancelled: shutting down
    auto started = std::chrono::steady_clock::now();
    std::size_t pruned = co_await asio::co_spawn(
        blocking_pool, prune_once(service, clock.wall_ms()), asio::use_awaitable);
    logger.debug("node", "pruned dedup records in {} partition(s) in {} ms", pruned,
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

// An administrator's LeaveRequest (qimctl leave): a timer that never expires until
// request_leave() moves its expiry into the past, which also completes a wait that starts
// later. Then the node shuts down exactly as on SIGTERM.
class AdminLeaveRequest {
 public:
  explicit AdminLeaveRequest(asio::any_io_executor control)
      : control_(control), timer_(control, asio::steady_timer::time_point::max()) {}
  // Any thread.
  void request_leave() {
    asio::post(control_, [this] { timer_.expires_at(asio::steady_timer::time_point::min()); });
  }
  // Control executor.
  asio::awaitable<void> wait() { co_await timer_.async_wait(use_nothrow); }

 private:
  asio::any_io_executor control_;
  asio::steady_timer timer_;
};

// Runs until SIGINT, SIGTERM or an administrator's leave request, then leaves the cluster (so
// peers see "left", not "dead"), shuts the client and admin listeners down and stops the
// membership shell. After the first signal the default disposition is restored, so a second
// one ends the process at once.
// REQUIRES: `signals` (SIGINT, SIGTERM) lives on the control executor.
// The parts of a running node that supervise() stops, in order.
struct RunningNode {
  net::ClientListener& listener;
  net::AdminListener& admin_listener;
  MembershipNode& membership;
  PlacementTracker& placement;
  Rebalancer& rebalancer;
  net::PeerLinks& peers;
};

asio::awaitable<void> supervise(asio::signal_set& signals, AdminLeaveRequest& leave_request,
                                RunningNode node, service::ImService& service,
                                const core::Clock& clock, std::chrono::milliseconds maintenance,
                                net::IoPool& pool, core::Logger& logger) {
  using namespace asio::experimental::awaitable_operators;
  auto outcome =
      co_await (wait_for_signal(signals) || leave_request.wait() ||
                run_maintenance(service, clock, maintenance, pool.blocking_pool(), logger));
  asio::error_code ignored;
  signals.clear(ignored);
  if (outcome.index() == 1) {
    logger.info("node", "an administrator asked this node to leave, shutting down");
  } else {
    logger.info("node", "signal {} received, shutting down (a second signal forces exit)",
                outcome.index() == 0 ? std::get<0>(outcome) : 0);
  }
  // Leave first, so the others route around this node by the time its clients, redirected
  // to their new homes by drain(), get there.
  co_await node.membership.leave();
  node.placement.drain();
  co_await node.rebalancer.drain(drain_timeout);
  co_await node.listener.stop();
  co_await node.admin_listener.stop();
  co_await node.rebalancer.stop();
  co_await node.peers.stop();
  co_await node.membership.stop();
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

// Every member derives the ring's hash seed from the cluster key, so all agree on placement
// and outsiders cannot aim user ids at one node.
cluster::RingOptions ring_options(const Config& config, const auth::ClusterKey& cluster_key) {
  std::array<std::uint8_t, 16> seed{};
  cluster_key.derive("qim-ring-seed/1", seed);
  cluster::RingOptions options;
  options.vnodes_per_member = config.vnodes_per_member;
  std::memcpy(&options.hash_key.k0, seed.data(), 8);
  std::memcpy(&options.hash_key.k1, seed.data() + 8, 8);
  return options;
}

// Binds the peer link listener, falling back to a free port like bind_gossip.
bool bind_peers(const Config& config, net::PeerLinks& peers, core::Logger& logger,
                std::string& error) {
  if (peers.bind(config.peer_listen, error)) return true;
  if (config.peer_listen_given || config.peer_listen.port == 0) return false;
  logger.warn("node", "{}; listening for peer links on a free port instead", error);
  error.clear();
  return peers.bind(net::HostPort{config.peer_listen.host, 0}, error);
}

// Binds the admin listener. Like bind_gossip: a derived address that is taken falls back to a
// free port (the port file tells qimctl which); an explicit one must bind.
bool bind_admin(const Config& config, net::AdminListener& admin_listener, core::Logger& logger,
                std::string& error) {
  asio::ip::tcp::endpoint endpoint;
  if (!net::resolve_listen_endpoint(config.admin_listen, endpoint, error)) return false;
  if (admin_listener.listen(endpoint, error)) return true;
  if (config.admin_listen_given || endpoint.port() == 0) return false;
  logger.warn("node", "{}; listening for admin connections on a free port instead", error);
  error.clear();
  endpoint.port(0);
  return admin_listener.listen(endpoint, error);
}

// After shutdown: jobs still on the blocking pool (the presence announcements of the sessions
// that just closed, say) use the cluster, the links and the service, and may wait for peer
// calls, which fail at once now that the links are stopped but complete on the control
// context. It keeps turning until the pool has run out of work, so that no job outlives what
// it uses; after `limit` what is left is abandoned, as the pool's destructor would.
void finish_blocking_jobs(asio::io_context& control, asio::thread_pool& blocking,
                          std::chrono::milliseconds limit) {
  control.restart();
  auto work = asio::make_work_guard(control);
  std::atomic<bool> idle{false};
  std::thread joiner([&] {
    blocking.join();  // once the pool has no work left, or has been stopped
    idle = true;
  });
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!idle && std::chrono::steady_clock::now() < deadline)
    control.run_for(std::chrono::milliseconds(20));
  if (!idle) blocking.stop();
  joiner.join();
  work.reset();
}

// From an open store to a stopped server. Returns the exit code.
int serve(const Config& config, store::Kv& kv, const auth::ClusterKey& cluster_key,
          const std::string& admin_token, std::uint64_t restart_epoch, core::Logger& logger) {
  core::SystemClock clock;
  // The key space's partitions, keyed like the ring so every member computes the same ones.
  route::Partitions partitions(route::Partitions::default_count,
                               ring_options(config, cluster_key).hash_key);
  service::InlineProposer proposer(kv, partitions);
  service::ImService service(kv, clock, logger, config.service, proposer, partitions);
  proposer.attach(service);
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

  // Routing follows membership from the first event on; until then every key is ours.
  PlacementTracker placement(route::NodeInfo{config.service.node_name, bound.address().to_string(),
                                             bound.port(), std::string()},
                             ring_options(config, cluster_key), control.get_executor(), logger);
  service.use_placement(placement);
  net::PeerLinks peers(control.get_executor(), cluster_key, placement, logger, restart_epoch);
  if (!bind_peers(config, peers, logger, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }
  HandoffReceiver handoff_receiver(kv, pool.blocking_pool().get_executor(), placement, logger);
  AdminRelay admin_relay(control.get_executor(), pool.blocking_pool().get_executor(), peers,
                         service, kv, listener, logger);
  ClusterPeers cluster(control.get_executor(), pool.blocking_pool().get_executor(), peers,
                       placement, service, handoff_receiver, admin_relay, logger);
  // Pushes and forwarded requests reach the sessions from an I/O thread, as local ones do.
  cluster.use_sessions_executor(pool.context(0).get_executor());
  service.use_cluster(cluster);
  Rebalancer rebalancer(control.get_executor(), pool.blocking_pool().get_executor(), kv, peers,
                        placement, service, logger);
  placement.set_change_listener([&rebalancer] { rebalancer.placement_changed(); });
  handoff_receiver.set_stray_listener([&rebalancer] { rebalancer.placement_changed(); });
  handoff_receiver.set_written_listener(
      [&service](std::string_view placement_key) { service.forget_cached(placement_key); });

  MembershipOptions membership_options;
  membership_options.node_name = config.service.node_name;
  membership_options.gossip_listen = config.gossip_listen;
  membership_options.client_address = net::format_address(bound.address(), bound.port());
  membership_options.peer_address = peers.local_address();
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
  membership->set_change_listener(
      [&placement](const std::vector<MemberSnapshot>& members) { placement.update(members); });

  AdminLeaveRequest leave_request(control.get_executor());
  admin_relay.use_membership(*membership);
  NodeAdminHooks admin_hooks(admin_relay, service, *membership, placement,
                             [&leave_request] { leave_request.request_leave(); });
  net::AdminListener admin_listener(control.get_executor(), pool.blocking_pool(), admin_hooks,
                                    admin_token, logger);
  if (!bind_admin(config, admin_listener, logger, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  // The sockets are bound (the kernel queues connections and datagrams) before the port file
  // appears.
  BoundPorts ports{bound.port(), membership->gossip_port(), admin_listener.local_endpoint().port(),
                   peers.local_port()};
  if (!config.port_file.empty() && !write_port_file(config.port_file, ports, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  pool.start();
  listener.start();
  logger.info("node", "listening on {}:{}", bound.address().to_string(), bound.port());
  peers.start(cluster);
  membership->start();
  admin_listener.start();
  logger.info("node", "admin endpoint on {}:{}",
              admin_listener.local_endpoint().address().to_string(),
              admin_listener.local_endpoint().port());

  int exit_code = exit_ok;
  asio::co_spawn(
      control,
      supervise(signals, leave_request,
                RunningNode{listener, admin_listener, *membership, placement, rebalancer, peers},
                service, clock, config.maintenance_interval, pool, logger),
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
  finish_blocking_jobs(control, pool.blocking_pool(), std::chrono::milliseconds(5'000));
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
  bool default_token = config.admin_token_file.empty();
  std::string token_path =
      default_token ? config.data_directory + "/admin.token" : config.admin_token_file;
  std::string token_error, token_warning;
  auto admin_token =
      admin::load_or_create_admin_token(token_path, default_token, token_error, token_warning);
  if (!admin_token) {
    logger.error("node", "{}", token_error);
    return exit_failure;
  }
  if (!token_warning.empty()) logger.warn("node", "{}", token_warning);
  std::uint64_t restart_epoch = 0;
  std::string epoch_error;
  if (!next_restart_epoch(config.data_directory, core::SystemClock().wall_ms(), restart_epoch,
                          epoch_error)) {
    logger.error("node", "{}", epoch_error);
    return exit_failure;
  }
  int exit_code = serve(config, *kv, *cluster_key, *admin_token, restart_epoch, logger);
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
