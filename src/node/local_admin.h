#pragma once
// The administrative operations this node carries out itself: its own counters, and user and
// group changes for keys whose home it is. Asked by the admin endpoint (node_admin_hooks.h)
// when the key is ours, and by other nodes relaying an administrator's request
// (admin_relay.h). Nothing here relays: a key whose home is another node by this node's
// placement is refused with WrongNode, so a request never travels twice.
#include <asio.hpp>

#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>

#include "admin/admin_hooks.h"
#include "admin/rate_meter.h"
#include "net/client_listener.h"
#include "net/peer_links.h"
#include "node/membership_node.h"
#include "replica/replica_host.h"
#include "service/im_service.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main (inside AdminRelay). Thread-safe: every method may run on any thread; the
// gossip counters, which live on the control thread, are read there (at once when called on
// it, else by posting and waiting a bounded time).
class LocalAdmin {
 public:
  // `control` runs the membership shell. REQUIRES: the references outlive this object.
  LocalAdmin(service::ImService& service, store::Kv& kv, const net::ClientListener& listener,
             const net::PeerLinks& links, asio::any_io_executor control);

  // Where the gossip counters come from. REQUIRES: called before any other thread uses this
  // object; `membership` outlives it.
  void use_membership(const MembershipNode& membership) { membership_ = &membership; }
  // Where the replication figures come from; as use_membership.
  void use_replicas(const replica::ReplicaHost& replicas) { replicas_ = &replicas; }
  // This node's replicas, for qimctl partitions (empty before use_replicas).
  std::vector<admin::ReplicaStatusView> replica_statuses() const;

  const std::string& node_name() const { return service_.options().node_name; }

  // This node's counters now, with the message rates sampled at this call.
  admin::NodeStatsView stats();

  // As admin::AdminHooks, for keys homed here; WrongNode (naming the home) otherwise, and
  // Unavailable while the key's records are being handed over to this node.
  Error create_user(std::string_view user, std::string_view password);  // BLOCKING (hashing)
  Error set_user_disabled(std::string_view user, bool disabled);
  // Every device, or only `device` when it is not empty.
  Error kick_user(std::string_view user, std::string_view device);
  // BLOCKING: gathers the user's friends and groups from every node.
  Error show_user(std::string_view user, admin::UserShowView& view);
  // The last step of deleting a user: the records in the user's own partition and the account.
  Error delete_account(std::string_view user);
  Error dissolve_group(std::string_view group);
  // This node's part of a cluster-wide list (ImService::names_here).
  service::NamePage names_here(admin::NameKind kind, std::string_view prefix,
                               std::string_view after, std::uint32_t limit) const;
  // Purges `user`'s records from every partition this node leads but the user's own, and
  // waits for them to be applied. On success `partitions` holds the partitions it leads (now
  // free of the user's records).
  Error purge_user(std::string_view user, std::vector<std::uint32_t>& partitions);
  Error reset_password(std::string_view user, std::string_view password);  // BLOCKING
  // BLOCKING: may ask other nodes which members are online.
  Error inspect_group(std::string_view group, admin::GroupView& view);

 private:
  // Error when `key` (a user id or "g:<gid>") is not served here now; `what` names it.
  Error check_home(std::string_view key, std::string_view what) const;
  std::optional<admin::GossipCountersView> gossip();

  service::ImService& service_;
  store::Kv& kv_;
  const net::ClientListener& listener_;
  const net::PeerLinks& links_;
  asio::any_io_executor control_;
  const MembershipNode* membership_ = nullptr;
  const replica::ReplicaHost* replicas_ = nullptr;
  const std::chrono::steady_clock::time_point started_;
  std::mutex rates_mutex_;
  admin::RateMeter in_rate_;   // GUARDED_BY(rates_mutex_): messages stored
  admin::RateMeter out_rate_;  // GUARDED_BY(rates_mutex_): messages pushed
};

}  // namespace qim::node
