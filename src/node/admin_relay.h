#pragma once
// The administrative part of the peer protocol (schemas/peer.fbs, "Administration through
// any node"): qimctl talks to one node, which asks the other live members for their counters
// and relays user and group operations to the home of the key.
//
// Answering (called by ClusterPeers::on_request on the links' executor): NodeStatsQuery is
// answered there (cheap); AdminUserOp and AdminGroupQuery run on the blocking pool (password
// hashing; a group's online flags may ask other nodes) and are awaited.
// Asking (called by NodeAdminHooks on the blocking pool): BLOCKING calls, each bounded by a
// deadline, never made on the links' executor.
#include <asio.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_hooks.h"
#include "core/log.h"
#include "net/client_listener.h"
#include "net/peer_links.h"
#include "node/local_admin.h"
#include "node/membership_node.h"
#include "service/im_service.h"
#include "store/kv.h"

namespace qim::node {

// `remove`: the last step of deleting a user (LocalAdmin::delete_account).
enum class UserAction : std::uint8_t { create, disable, enable, kick, reset_password, remove };

// One node's answer to a purge of a user (AdminUserPurge).
struct PurgeReport {
  std::string node;
  Error error;                            // set: it did not answer, or a purge failed
  std::vector<std::uint32_t> partitions;  // the partitions it leads, now free of the user
};

// Owned by main; outlives the peer links' stop() and the admin listener. Thread-safe.
class AdminRelay {
 public:
  struct Options {
    // A node asked for its counters answers within this, or is reported as not answering.
    std::chrono::milliseconds stats_timeout{2'000};
    // A relayed user or group operation (the home hashes passwords) within this. Below
    // qimctl's default timeout (5 s), so qimctl hears why.
    std::chrono::milliseconds relay_timeout{4'000};
  };

  // `executor` is the peer links' (the control thread), `blocking` the blocking pool's.
  AdminRelay(asio::any_io_executor executor, asio::any_io_executor blocking, net::PeerLinks& links,
             service::ImService& service, store::Kv& kv, const net::ClientListener& listener,
             core::Logger& logger, Options options);
  AdminRelay(asio::any_io_executor executor, asio::any_io_executor blocking, net::PeerLinks& links,
             service::ImService& service, store::Kv& kv, const net::ClientListener& listener,
             core::Logger& logger)
      : AdminRelay(std::move(executor), std::move(blocking), links, service, kv, listener, logger,
                   Options{}) {}

  // REQUIRES: called before the peer links and the admin listener start.
  void use_membership(const MembershipNode& membership) { local_.use_membership(membership); }
  void use_replicas(const replica::ReplicaHost& replicas) { local_.use_replicas(replicas); }
  LocalAdmin& local() { return local_; }

  // --- Answering other nodes (links' executor) ----------------------------------------------
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::NodeStatsQuery& query);
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::AdminUserOp& op);
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::AdminGroupQuery& query);
  // admin_relay_users.cc:
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::AdminUserShowQuery& query);
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::AdminNameListQuery& query);
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::AdminUserPurge& purge);
  asio::awaitable<std::vector<std::uint8_t>> serve(const peer_wire::AdminGroupDissolve& dissolve);

  // --- Asking other nodes (BLOCKING: blocking pool only) ------------------------------------
  // The counters of each of `nodes` (other nodes), all asked at once; a node that does not
  // answer in time gets a row with answered == false and the reason.
  std::vector<admin::NodeStatsView> stats_of(const std::vector<std::string>& nodes);
  // Carries out `action` at `node` (the home of `user`); the home's error, code and message,
  // when it refuses.
  // `device`: for kick, only that device (empty: every device).
  Error user_op(const std::string& node, UserAction action, std::string_view user,
                std::string_view password, std::string_view device = {});
  Error inspect_group(const std::string& node, std::string_view group, admin::GroupView& view);
  // admin_relay_users.cc:
  Error show_user(const std::string& node, std::string_view user, admin::UserShowView& view);
  Error dissolve_group(const std::string& node, std::string_view group);
  // Each of `nodes`' part of a list (all asked at once); a node that does not answer in time
  // is left out, so its partitions are missing from the pages.
  std::vector<service::NamePage> name_pages(const std::vector<std::string>& nodes,
                                            admin::NameKind kind, std::string_view prefix,
                                            std::string_view after, std::uint32_t limit);
  // Asks each of `nodes` to purge `user` from the partitions it leads (all at once).
  std::vector<PurgeReport> purge_user(const std::vector<std::string>& nodes, std::string_view user);
  // The replicas each of `nodes` (other nodes) hosts, all asked at once; a node that does not
  // answer in time gets a report with answered == false.
  std::vector<admin::NodeReplicaReport> replica_reports(const std::vector<std::string>& nodes);

 private:
  // BLOCKING: the same request to each of `nodes`, all sent before any answer is awaited; one
  // result per node, in order (a failure when not asked on the right thread).
  std::vector<net::PeerCallResult> call_each(const std::vector<std::string>& nodes,
                                             const std::vector<std::uint8_t>& request,
                                             std::chrono::milliseconds timeout);
  // A failure of a relayed operation: the home's code and message, and where it happened.
  static Error relayed(Error error, const std::string& node, std::string_view subject);
  // BLOCKING: one call, waited for on this thread.
  net::PeerCallResult call_blocking(const std::string& node, std::vector<std::uint8_t> request,
                                    std::chrono::milliseconds timeout);

  asio::any_io_executor executor_;
  asio::any_io_executor blocking_;
  net::PeerLinks& links_;
  core::Logger& logger_;
  const Options options_;
  LocalAdmin local_;
};

}  // namespace qim::node
