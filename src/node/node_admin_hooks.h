#pragma once
// The node's side of the admin endpoint: admin::AdminHooks over the membership runner, the
// placement, and the administrative operations here (LocalAdmin) and at other nodes
// (AdminRelay). qimctl may talk to any node: counters and online users are gathered from every
// live member, and user and group operations are carried out at the key's home.
#include <functional>
#include <string>

#include "admin/admin_hooks.h"
#include "node/admin_relay.h"
#include "node/backup.h"
#include "node/membership_node.h"
#include "service/im_service.h"
#include "service/placement_source.h"

namespace qim::node {

// Owned by main; constructed after everything it refers to and destroyed before them.
// Thread-safe. Methods that ask other nodes block (bounded by deadlines): the admin listener
// runs them on the blocking pool.
class NodeAdminHooks final : public admin::AdminHooks {
 public:
  // `request_leave` must be callable from any thread and return at once.
  // `replicas_wanted` is --replicas; `partitions` the cluster's partitions.
  NodeAdminHooks(AdminRelay& relay, service::ImService& service, const MembershipNode& membership,
                 const service::PlacementSource& placement, const route::Partitions& partitions,
                 std::uint32_t vnodes_per_member, std::uint32_t replicas_wanted,
                 std::function<void()> request_leave, Backups& backups);

  std::string node_name() const override;
  std::vector<admin::MemberView> members() override;
  admin::RingView ring() override;
  Error stats(const admin::StatsScope& scope, admin::StatsView& view) override;
  admin::OnlineView online(std::string_view after, std::uint32_t limit, bool cluster) override;
  Error create_user(std::string_view user, std::string_view password) override;
  Error set_user_disabled(std::string_view user, bool disabled) override;
  Error kick_user(std::string_view user, std::string_view device) override;
  Error show_user(std::string_view user, admin::UserShowView& view) override;
  Error delete_user(std::string_view user) override;
  Error dissolve_group(std::string_view group) override;
  Error backup(std::string_view directory, admin::BackupView& view) override;
  admin::NameListView list_names(admin::NameKind kind, std::string_view prefix,
                                 std::string_view after, std::uint32_t limit) override;
  Error reset_password(std::string_view user, std::string_view password) override;
  Error inspect_group(std::string_view group, admin::GroupView& view) override;
  admin::PartitionTableView partitions() override;
  admin::WhereView where(std::string_view placement_key) override;
  void request_leave() override;

 private:
  // The live members (alive or suspect) by the membership runner, sorted; this node included.
  std::vector<std::string> live_members() const;
  // Runs a user operation here when `user`'s home is this node, else relays it there.
  Error on_home(UserAction action, std::string_view user, std::string_view password,
                std::string_view device = {});

  AdminRelay& relay_;
  service::ImService& service_;
  const MembershipNode& membership_;
  const service::PlacementSource& placement_;
  const route::Partitions& partitions_;
  const std::uint32_t vnodes_per_member_;
  const std::uint32_t replicas_wanted_;
  const std::function<void()> request_leave_;
  Backups& backups_;
};

}  // namespace qim::node
