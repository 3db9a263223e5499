#pragma once
// The node's side of the admin endpoint: admin::AdminHooks over the IM service, the store, the
// membership runner and the client listener.
#include <chrono>
#include <functional>
#include <string>

#include "admin/admin_hooks.h"
#include "net/client_listener.h"
#include "node/membership_node.h"
#include "service/im_service.h"
#include "service/placement_source.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main; constructed after everything it refers to and destroyed before them.
// Thread-safe (every method may run on the blocking pool): it only calls thread-safe methods
// of the service, the store, MembershipNode::snapshot() and ClientListener::connection_count().
class NodeAdminHooks final : public admin::AdminHooks {
 public:
  // `request_leave` must be callable from any thread and return at once.
  NodeAdminHooks(service::ImService& service, store::Kv& kv, const MembershipNode& membership,
                 const service::PlacementSource& placement, const net::ClientListener& listener,
                 std::function<void()> request_leave);

  std::string node_name() const override;
  std::vector<admin::MemberView> members() override;
  admin::RingView ring() override;
  admin::StatsView stats() override;
  admin::OnlineView online(std::string_view after, std::uint32_t limit) override;
  Error create_user(std::string_view user, std::string_view password) override;
  Error set_user_disabled(std::string_view user, bool disabled) override;
  Error kick_user(std::string_view user) override;
  Error reset_password(std::string_view user, std::string_view password) override;
  Error inspect_group(std::string_view group, admin::GroupView& view) override;
  void request_leave() override;

 private:
  service::ImService& service_;
  store::Kv& kv_;
  const MembershipNode& membership_;
  const service::PlacementSource& placement_;
  const net::ClientListener& listener_;
  const std::function<void()> request_leave_;
  const std::chrono::steady_clock::time_point started_;
};

}  // namespace qim::node
