// qimd: wires the modules together. Flags: config.h. Threads:
//   main thread  the control io_context: signals, the client acceptor, maintenance, shutdown,
//                the whole membership shell (SWIM core, gossip sockets, push-pulls), the peer
//                links and the replica host (every partition's Raft group and its applies);
//   I/O threads  net::IoPool, one io_context each, the client connections (with --threads 1,
//                the control loop itself: a message then crosses no thread in this process);
//   blocking     the IoPool's thread pool: password hashing, dedup pruning;
//   qim-http     the operators' HTTP port.
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
#include "node/identity.h"
#include "node/known_peers.h"
#include "node/leader_directory.h"
#include "node/membership_node.h"
#include "node/node_admin_hooks.h"
#include "node/node_metrics.h"
#include "node/operator_http.h"
#include "node/raft_transport.h"
#include "replica/replica_host.h"
#include "service/im_service.h"
#include "store/rocks_kv.h"

namespace qim::node {
namespace {

using asio::experimental::as_tuple;
constexpr auto use_nothrow = as_tuple(asio::use_awaitable);

struct BoundPorts {
  std::uint16_t client = 0;
  std::uint16_t gossip = 0;
  std::uint16_t admin = 0;
  std::uint16_t peer = 0;
  std::uint16_t http = 0;  // 0: no HTTP port
  std::uint16_t ws = 0;    // 0: no WebSocket port
};

// Writes "<client port>\n" (all a reader of the first line needs), then "gossip <port>\n",
// "admin <port>\n", "peer <port>\n", "http <port>\n" and "ws <port>\n" (when they listen), to
// `path` atomically (a reader never sees a partial file).
bool write_port_file(const std::string& path, const BoundPorts& ports, std::string& error) {
  std::string text = fmt::format("{}\ngossip {}\nadmin {}\npeer {}\n", ports.client, ports.gossip,
                                 ports.admin, ports.peer);
  if (ports.http != 0) text += fmt::format("http {}\n", ports.http);
  if (ports.ws != 0) text += fmt::format("ws {}\n", ports.ws);
  return write_file_atomically(path, text, error);
}

// Binds the operators' HTTP port, falling back to a free port like bind_admin.
bool bind_http(const Config& config, OperatorHttp& http, core::Logger& logger, std::string& error) {
  if (http.bind(config.http_listen, error)) return true;
  if (config.http_listen_given || config.http_listen.port == 0) return false;
  logger.warn("node", "{}; serving HTTP on a free port instead", error);
  error.clear();
  return http.bind(net::HostPort{config.http_listen.host, 0}, error);
}

struct MaintenanceDone {
  std::size_t pruned = 0;   // partitions asked to prune dedup records
  std::size_t trimmed = 0;  // history trims proposed
};

// BLOCKING (the history sweep waits for its trims' outcomes).
asio::awaitable<MaintenanceDone> maintain_once(service::ImService& service, std::int64_t now_ms) {
  MaintenanceDone done;
  done.pruned = service.prune_dedup(now_ms);
  done.trimmed = service.trim_history(now_ms);
  co_return done;
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
    MaintenanceDone done = co_await asio::co_spawn(
        blocking_pool, maintain_once(service, clock.wall_ms()), asio::use_awaitable);
    logger.debug("node",
                 "pruned dedup records in {} partition(s), proposed {} history trim(s), in {} ms",
                 done.pruned, done.trimmed,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count());
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

// Proposes the buffered read cursors every `interval` until cancelled. Proposing is
// asynchronous, so this runs on the control thread.
asio::awaitable<void> run_cursor_flush(service::ImService& service,
                                       std::chrono::milliseconds interval) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(interval);
    auto [error] = co_await timer.async_wait(use_nothrow);
    if (error) co_return;  // cancelled: shutting down
    service.flush_cursors();
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none) co_return;
  }
}

asio::awaitable<int> wait_for_signal(asio::signal_set& signals) {
  auto [error, signal_number] = co_await signals.async_wait(use_nothrow);
  co_return error ? 0 : signal_number;
}

// SIGHUP: the TLS certificate, key and client CAs are read again; new connections get them, open
// ones keep theirs. A file that does not load leaves the current ones in place.
asio::awaitable<void> reload_tls_on_hangup(asio::signal_set& hangup, net::ClientListener& listener,
                                           const Config& config, core::Logger& logger) {
  for (;;) {
    auto [error, signal_number] = co_await hangup.async_wait(use_nothrow);
    if (error) co_return;  // cancelled: shutting down
    if (!config.tls) {
      logger.info("node", "SIGHUP: no --tls-cert to reload");
      continue;
    }
    std::string failure;
    auto tls = net::TlsContext::load(config.tls_files, failure);
    if (!tls) {
      logger.error("node", "SIGHUP: keeping the current certificate: {}", failure);
      continue;
    }
    listener.set_tls(std::move(tls));
    logger.info("node", "SIGHUP: new connections use {} (open ones keep theirs)",
                config.tls_files.certificate_file);
  }
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
  // Any thread: stop without leaving (the node found it must not stay, e.g. a member of
  // another cluster).
  void request_stop() {
    asio::post(control_, [this] {
      stop_only_ = true;
      timer_.expires_at(asio::steady_timer::time_point::min());
    });
  }
  // Control executor.
  asio::awaitable<void> wait() { co_await timer_.async_wait(use_nothrow); }
  bool stop_only() const { return stop_only_; }

 private:
  asio::any_io_executor control_;
  asio::steady_timer timer_;
  bool stop_only_ = false;
};

// The parts of a running node that supervise() stops, in order.
struct RunningNode {
  net::ClientListener& listener;
  net::AdminListener& admin_listener;
  MembershipNode& membership;
  replica::ReplicaHost& replicas;
  net::PeerLinks& peers;
  std::atomic<bool>& stopping;  // /readyz: set once a leave or stop has begun
};

// Whether another member could take this node's replicas: alive, not leaving, and known to
// replicate (a replica id in its metadata).
bool others_can_take_replicas(const MembershipNode& membership, const std::string& self) {
  for (const MemberSnapshot& member : membership.snapshot()) {
    if (member.name != self && member.replica_id != 0 && !member.draining &&
        cluster::swim::is_live(member.state)) {
      return true;
    }
  }
  return false;
}

// Polls `done` every `interval`, logging nothing itself; returns when it holds or `limit`
// passed (a zero limit waits for ever).
asio::awaitable<bool> wait_until(std::function<bool()> done, std::chrono::milliseconds interval,
                                 std::chrono::milliseconds limit) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (limit.count() > 0 && std::chrono::steady_clock::now() >= deadline) co_return false;
    timer.expires_after(interval);
    auto [error] = co_await timer.async_wait(use_nothrow);
    if (error) co_return done();
  }
  co_return true;
}

// Runs until SIGINT, SIGTERM or an administrator's leave request, then leaves the cluster or
// stops (--shutdown), shuts the client and admin listeners down and stops the replicas, the
// peer links and the membership shell. After the first signal the default disposition is
// restored, so a second one ends the process at once (abandoning a leave that cannot finish).
// REQUIRES: `signals` (SIGINT, SIGTERM) lives on the control executor.
asio::awaitable<void> supervise(asio::signal_set& signals, asio::signal_set& hangup,
                                AdminLeaveRequest& leave_request, RunningNode node,
                                const Config& config, service::ImService& service,
                                const core::Clock& clock, net::IoPool& pool, core::Logger& logger) {
  using namespace asio::experimental::awaitable_operators;
  auto outcome = co_await (
      wait_for_signal(signals) || leave_request.wait() ||
      run_maintenance(service, clock, config.maintenance_interval, pool.blocking_pool(), logger) ||
      run_cursor_flush(service, config.cursor_flush_interval) ||
      reload_tls_on_hangup(hangup, node.listener, config, logger));
  node.stopping = true;
  asio::error_code ignored;
  signals.clear(ignored);
  hangup.clear(ignored);
  bool asked_to_leave = outcome.index() == 1 && !leave_request.stop_only();
  if (leave_request.stop_only()) {
    logger.info("node", "stopping");
  } else if (asked_to_leave) {
    logger.info("node", "an administrator asked this node to leave, shutting down");
  } else {
    logger.info("node", "signal {} received, shutting down (a second signal forces exit)",
                outcome.index() == 0 ? std::get<0>(outcome) : 0);
  }
  // The read cursors acknowledged so far are stored while this node still leads.
  service.flush_cursors();
  bool cursors_stored =
      co_await wait_until([&] { return service.cursor_commands_in_flight() == 0; },
                          std::chrono::milliseconds(10), std::chrono::seconds(3));
  if (!cursors_stored) {
    logger.warn("node", "{} read cursor write(s) did not complete before shutdown",
                service.cursor_commands_in_flight());
  }
  bool leave =
      !leave_request.stop_only() && (asked_to_leave || config.shutdown == ShutdownMode::leave);
  if (leave && node.replicas.hosted() > 0 &&
      !others_can_take_replicas(node.membership, config.service.node_name)) {
    logger.info("node",
                "no other member can take this node's replicas; stopping with them in place "
                "(they serve again when this node returns)");
    leave = false;
  }
  if (leave) {
    // Drain: the others stop counting this node in their layouts, its leaders hand their
    // groups over, and the new leaders remove this node's replicas. Only then does it go.
    logger.info("node", "leaving: moving {} replica(s) and {} leadership(s) to other nodes",
                node.replicas.hosted(), node.replicas.leaderships());
    node.membership.set_draining(true);
    node.replicas.start_drain();
    // Until every replica has moved, or no member is left to take them (the others are
    // leaving too): then this node stops with the rest in place.
    co_await wait_until(
        [&] {
          return node.replicas.drained() ||
                 !others_can_take_replicas(node.membership, config.service.node_name);
        },
        std::chrono::milliseconds(100), std::chrono::milliseconds(0));
    if (node.replicas.drained()) {
      logger.info("node", "every replica has moved away; leaving the cluster");
    } else {
      logger.warn("node",
                  "no other member can take the {} replica(s) still here (the others are "
                  "leaving too); stopping with them in place",
                  node.replicas.hosted());
    }
    co_await node.membership.leave();
  } else if (node.replicas.leaderships() > 0) {
    node.replicas.transfer_all_leaderships();
    bool handed = co_await wait_until([&] { return node.replicas.leaderships() == 0; },
                                      std::chrono::milliseconds(50), std::chrono::seconds(5));
    if (!handed) {
      logger.warn("node",
                  "{} leadership(s) could not be handed over in time; their partitions "
                  "elect a new leader once this node is gone",
                  node.replicas.leaderships());
    }
  }
  co_await node.listener.stop();
  co_await node.admin_listener.stop();
  node.replicas.stop();
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

// The membership as the replica host's placement sees it.
std::vector<replication::MemberView> member_views(const std::vector<MemberSnapshot>& members) {
  std::vector<replication::MemberView> views;
  views.reserve(members.size());
  for (const MemberSnapshot& member : members) {
    replication::MemberHealth health = replication::MemberHealth::alive;
    switch (member.state) {
      case cluster::swim::MemberState::alive:
        health = replication::MemberHealth::alive;
        break;
      case cluster::swim::MemberState::suspect:
        health = replication::MemberHealth::suspect;
        break;
      case cluster::swim::MemberState::dead:
        health = replication::MemberHealth::dead;
        break;
      case cluster::swim::MemberState::left:
        health = replication::MemberHealth::left;
        break;
    }
    views.push_back(
        {member.name, member.replica_id, health, member.state_since_ms, member.draining});
  }
  return views;
}

// Checks every member against this node's cluster: the same partition count, the same cluster
// id (adopted from the first member that has one, when this node has none yet). An empty
// string when all agree; otherwise why this node must not stay.
std::string check_cluster(const std::vector<MemberSnapshot>& members, const std::string& self,
                          Identity& identity, store::Kv& kv, MembershipNode& membership,
                          core::Logger& logger) {
  for (const MemberSnapshot& member : members) {
    if (member.name == self || member.replica_id == 0) continue;
    if (member.state == cluster::swim::MemberState::left) continue;
    if (member.partitions != 0 && member.partitions != identity.partitions) {
      return fmt::format(
          "member {} belongs to a cluster of {} partitions, but this node was "
          "started with --partitions {}; every node of a cluster must use the "
          "same value",
          member.name, member.partitions, identity.partitions);
    }
    if (member.cluster_id == 0) continue;
    if (identity.cluster_id == 0) {
      if (Error error = store_cluster_id(kv, member.cluster_id)) {
        return "cannot record the cluster id: " + error.message;
      }
      identity.cluster_id = member.cluster_id;
      membership.set_cluster_id(member.cluster_id);
      logger.info("node", "joined cluster {:016x}", member.cluster_id);
    } else if (member.cluster_id != identity.cluster_id) {
      return fmt::format(
          "member {} belongs to another cluster ({:016x}, this node's is "
          "{:016x}): a node cannot join a second cluster; give it its own data "
          "directory and cluster key",
          member.name, member.cluster_id, identity.cluster_id);
    }
  }
  return {};
}

// From an open store to a stopped server. Returns the exit code.
int serve(const Config& config, store::RocksKv& kv, const auth::ClusterKey& cluster_key,
          const std::string& admin_token, std::uint64_t restart_epoch, Identity identity,
          core::Logger& logger) {
  core::SystemClock clock;
  cluster::RingOptions ring = ring_options(config, cluster_key);
  route::Partitions partitions(config.partitions, ring.hash_key);
  asio::io_context control(1);
  // With one I/O thread the client connections share the control loop (see IoPool).
  net::IoPool pool(config.io_threads, config.blocking_threads, logger, &control);
  // Installed before the port file appears: whoever waits for that file may signal at once.
  asio::signal_set signals(control, SIGINT, SIGTERM);
  asio::signal_set hangup(control, SIGHUP);
  std::string error;

  // Routing: who leads which partition, and where members listen (the client address is known
  // once the listener is bound, below).
  route::NodeInfo self{config.service.node_name, "", 0, "", true, identity.replica_id};
  LeaderDirectory directory(self, partitions, logger);
  net::PeerLinks peers(control.get_executor(), cluster_key, directory, logger, restart_epoch);
  if (!bind_peers(config, peers, logger, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }
  RaftTransport transport(control.get_executor(), peers);
  replica::HostOptions host_options;
  host_options.node_name = config.service.node_name;
  host_options.replica_id = identity.replica_id;
  host_options.replicas = config.replicas;
  host_options.tick = config.raft_tick;
  host_options.election_ticks = config.election_ticks;
  host_options.fsync = config.service.durability == service::Durability::fsync;
  host_options.replace_after_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config.replace_after).count();
  host_options.ring = ring;
  // On the control loop, with the peer links: Raft's messages cross no thread on their way.
  replica::ReplicaHost replicas(host_options, partitions, kv, transport, logger, &control);
  service::ImService service(kv, clock, logger, config.service, replicas, partitions);
  // A push leaves only once its message is in the store: whoever is pushed it may read it.
  service.hold_events_until_released();
  replicas.use_state_machine(service);
  replicas.set_leader_listener([&directory](const std::vector<replica::LeaderHint>& hints) {
    directory.update_leaders(hints);
  });

  net::ClientListener listener(control.get_executor(), pool, service, logger, config.listener);
  listener.set_tls(config.tls);
  asio::ip::tcp::endpoint endpoint;
  if (!net::resolve_listen_endpoint(config.listen, endpoint, error) ||
      !listener.listen(endpoint, config.tls != nullptr, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }
  auto bound = listener.local_endpoint();
  std::uint16_t ws_port = 0;
  if (config.ws_listen) {
    asio::ip::tcp::endpoint ws_endpoint;
    if (!net::resolve_listen_endpoint(*config.ws_listen, ws_endpoint, error) ||
        !listener.listen(ws_endpoint, config.tls != nullptr, error, true)) {
      logger.error("node", "{}", error);
      return exit_failure;
    }
    ws_port = listener.local_endpoint(1).port();
  }
  self.client_host = bound.address().to_string();
  self.client_port = bound.port();
  self.peer_address = peers.local_address();
  self.ws_port = ws_port;  // Redirects name it for browsers
  directory.set_self(self);
  service.use_placement(directory);

  bool bootstrap = config.bootstrap && identity.cluster_id == 0;
  if (Error opened = replicas.open(bootstrap)) {
    logger.error("node", "cannot open the partitions' replicas: {}", opened.message);
    return exit_failure;
  }
  if (bootstrap && replicas.hosted() > 0) {
    identity.cluster_id = random_id();
    if (Error stored = store_cluster_id(kv, identity.cluster_id)) {
      logger.error("node", "cannot record the new cluster's id: {}", stored.message);
      return exit_failure;
    }
    logger.info("node", "created cluster {:016x} with {} partitions", identity.cluster_id,
                identity.partitions);
  } else if (identity.cluster_id == 0) {
    logger.info("node", "waiting to be given replicas by the cluster reached through --seed");
  }

  AdminRelay admin_relay(control.get_executor(), pool.blocking_pool().get_executor(), peers,
                         service, kv, listener, logger);
  ClusterPeers cluster(control.get_executor(), pool.blocking_pool().get_executor(), peers,
                       directory, service, admin_relay, logger);
  // Pushes and forwarded requests reach the sessions from an I/O thread, as local ones do.
  cluster.use_sessions_executor(pool.context(0).get_executor());
  cluster.use_replicas(replicas, identity.replica_id);
  service.use_cluster(cluster);

  MembershipOptions membership_options;
  membership_options.node_name = config.service.node_name;
  membership_options.gossip_listen = config.gossip_listen;
  membership_options.client_address = net::format_address(bound.address(), bound.port());
  membership_options.peer_address = peers.local_address();
  membership_options.ws_port = ws_port;
  membership_options.seeds = config.seeds;
  KnownPeers known_peers(kv, logger);
  if (identity.cluster_id != 0) {
    known_peers.load();
    membership_options.seeds = known_peers.seeds_with(config.seeds);
    if (config.seeds.empty() && !known_peers.addresses().empty()) {
      logger.info("node", "rejoining the cluster through the {} member(s) known before this start",
                  known_peers.addresses().size());
    }
  }
  membership_options.swim = config.swim;
  membership_options.replica_id = identity.replica_id;
  membership_options.cluster_id = identity.cluster_id;
  membership_options.partitions = identity.partitions;
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

  AdminLeaveRequest leave_request(control.get_executor());
  // For /readyz, read off the control thread: whether this node belongs to a cluster, and
  // whether it has begun to leave or stop.
  std::atomic<bool> joined{identity.cluster_id != 0};
  std::atomic<bool> stopping{false};
  int exit_code = exit_ok;
  // Sessions whose user's partition is now led elsewhere are redirected there; coalesced on
  // the control thread, since leader changes come in bursts.
  auto redirect_pending = std::make_shared<std::atomic<bool>>(false);
  directory.set_change_listener([&service, &control, redirect_pending] {
    if (redirect_pending->exchange(true)) return;
    asio::post(control, [&service, redirect_pending] {
      redirect_pending->store(false);
      service.redirect_moved_sessions([](std::string_view) { return true; });
    });
  });
  membership->set_change_listener([&](const std::vector<MemberSnapshot>& members) {
    std::string refusal =
        check_cluster(members, config.service.node_name, identity, kv, *membership, logger);
    if (!refusal.empty()) {
      logger.error("node", "{}; stopping", refusal);
      exit_code = exit_failure;
      leave_request.request_stop();
      return;
    }
    joined = identity.cluster_id != 0;
    known_peers.remember(members, config.service.node_name);
    directory.update_members(members);
    replicas.update_members(member_views(members));
  });

  admin_relay.use_membership(*membership);
  admin_relay.use_replicas(replicas);
  Backups backups(kv, config.data_directory);
  NodeAdminHooks admin_hooks(
      admin_relay, service, *membership, directory, partitions, config.vnodes_per_member,
      config.replicas, [&leave_request] { leave_request.request_leave(); }, backups);
  net::AdminListener admin_listener(control.get_executor(), pool.blocking_pool(), admin_hooks,
                                    admin_token, logger);
  if (!bind_admin(config, admin_listener, logger, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  // The operators' HTTP port: metrics and probes, answered off the event loops.
  std::vector<asio::any_io_executor> loops{control.get_executor()};
  for (std::size_t i = pool.shares_main_loop() ? 1 : 0; i < pool.size(); ++i)
    loops.push_back(pool.context(i).get_executor());
  NodeMetrics metrics(
      NodeMetrics::Sources{service, listener, peers, cluster, admin_relay.local(), *membership,
                           replicas, kv, partitions.count(), [&joined] { return joined.load(); },
                           [&stopping] { return stopping.load(); }, std::move(loops)});
  OperatorHttp http({[&metrics] { return metrics.render(); }, [&metrics] { return metrics.live(); },
                     [&metrics] { return metrics.ready(); }},
                    logger);
  if (config.http_enabled && !bind_http(config, http, logger, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  // The sockets are bound (the kernel queues connections and datagrams) before the port file
  // appears.
  BoundPorts ports{bound.port(),
                   membership->gossip_port(),
                   admin_listener.local_endpoint().port(),
                   peers.local_port(),
                   config.http_enabled ? http.port() : std::uint16_t{0},
                   ws_port};
  if (!config.port_file.empty() && !write_port_file(config.port_file, ports, error)) {
    logger.error("node", "{}", error);
    return exit_failure;
  }

  pool.start();
  replicas.start();
  listener.start();
  logger.info("node", "listening on {}:{} ({}; replica {:016x}, {} partitions, {} replicas each)",
              bound.address().to_string(), bound.port(), config.tls ? "TLS 1.3" : "plaintext",
              identity.replica_id, identity.partitions, config.replicas);
  if (config.ws_listen) {
    auto ws_bound = listener.local_endpoint(1);
    logger.info("node", "WebSocket endpoint on {}://{}:{}/ws{}", config.tls ? "wss" : "ws",
                ws_bound.address().to_string(), ws_bound.port(),
                config.listener.connection.web_root.empty()
                    ? std::string()
                    : fmt::format(" (web client from {})", config.listener.connection.web_root));
  }
  peers.start(cluster);
  membership->start();
  admin_listener.start();
  logger.info("node", "admin endpoint on {}:{}",
              admin_listener.local_endpoint().address().to_string(),
              admin_listener.local_endpoint().port());
  if (config.http_enabled) {
    http.start();
    logger.info("node", "metrics and health on http://{}:{}/metrics (/livez, /readyz)",
                config.http_listen.host, http.port());
  }

  asio::co_spawn(
      control,
      supervise(signals, hangup, leave_request,
                RunningNode{listener, admin_listener, *membership, replicas, peers, stopping},
                config, service, clock, pool, logger),
      [&](std::exception_ptr exception) {
        // The client connections' periodic work runs on this loop too when it is their I/O
        // loop; what is queued now still runs, then the loop stops as the pool's would.
        if (pool.shares_main_loop()) asio::post(control, [&control] { control.stop(); });
        if (!exception) return;
        exit_code = exit_failure;
        try {
          std::rethrow_exception(exception);
        } catch (const std::exception& failure) {
          logger.error("node", "shutdown failed: {}", failure.what());
        }
      });
  control.run();  // returns when supervise() and the accept loop have finished
  stopping = true;
  http.stop();
  finish_blocking_jobs(control, pool.blocking_pool(), std::chrono::milliseconds(5'000));
  replicas.stop();
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
  // One admin credential for the whole cluster: derived from the cluster key unless an
  // operator's token file is named. Either way <data-dir>/admin.token holds the token the
  // node accepts, for `qimctl --data-dir` on this host.
  std::optional<std::string> admin_token;
  std::string token_error, token_warning;
  if (config.admin_token_file.empty()) {
    admin_token = admin::derive_admin_token(*cluster_key);
    if (!admin::write_admin_token_file(config.data_directory + "/admin.token", *admin_token,
                                       token_error)) {
      logger.error("node", "{}", token_error);
      return exit_failure;
    }
  } else {
    admin_token = admin::read_admin_token_file(config.admin_token_file, token_error, token_warning);
    if (!admin_token) {
      logger.error("node", "{}", token_error);
      return exit_failure;
    }
    if (!token_warning.empty()) logger.warn("node", "{}", token_warning);
    if (!admin::write_admin_token_file(config.data_directory + "/admin.token", *admin_token,
                                       token_error)) {
      logger.error("node", "{}", token_error);
      return exit_failure;
    }
  }
  std::uint64_t restart_epoch = 0;
  std::string epoch_error;
  if (!next_restart_epoch(config.data_directory, core::SystemClock().wall_ms(), restart_epoch,
                          epoch_error)) {
    logger.error("node", "{}", epoch_error);
    return exit_failure;
  }
  Identity identity;
  if (Error loaded = load_or_create_identity(*kv, config.partitions, identity)) {
    logger.error("node", "{}", loaded.message);
    return exit_failure;
  }
  int exit_code = serve(config, *kv, *cluster_key, *admin_token, restart_epoch, identity, logger);
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
