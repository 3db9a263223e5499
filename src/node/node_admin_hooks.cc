#include "node/node_admin_hooks.h"

#include <algorithm>
#include <utility>

#include <fmt/core.h>

#include "auth/password.h"
#include "service/keys.h"
#include "service/records.h"

namespace qim::node {
namespace {

std::int64_t steady_ms(std::chrono::steady_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

admin::MemberState to_admin(cluster::swim::MemberState state) {
  switch (state) {
    case cluster::swim::MemberState::alive:
      return admin::MemberState::alive;
    case cluster::swim::MemberState::suspect:
      return admin::MemberState::suspect;
    case cluster::swim::MemberState::dead:
      return admin::MemberState::dead;
    case cluster::swim::MemberState::left:
      return admin::MemberState::left;
  }
  return admin::MemberState::dead;
}

// User records live at the user's home node (the ring decides); an administrative change made
// elsewhere would miss them, so it is refused with the node to ask instead.
Error check_home(const service::ImService& service, std::string_view user) {
  auto home = service.home_elsewhere(user);
  if (!home) return {};
  return Error{errc::wrong_node,
               fmt::format("user: {}'s home is node {} (clients at {}:{}); run this against that "
                           "node's admin endpoint",
                           user, home->name, home->client_host, home->client_port)};
}

// Closes every session of `user` and revokes their tokens (the Logout-on-all-devices path, with
// no session of ours to spare).
Error end_sessions(service::ImService& service, std::string_view user) {
  return service.logout(service::Caller{user, {}, 0}, true, auth::TokenDigest{});
}

}  // namespace

NodeAdminHooks::NodeAdminHooks(service::ImService& service, store::Kv& kv,
                               const MembershipNode& membership,
                               const service::PlacementSource& placement,
                               const net::ClientListener& listener,
                               std::function<void()> request_leave)
    : service_(service),
      kv_(kv),
      membership_(membership),
      placement_(placement),
      listener_(listener),
      request_leave_(std::move(request_leave)),
      started_(std::chrono::steady_clock::now()) {}

std::string NodeAdminHooks::node_name() const {
  return service_.options().node_name;
}

std::vector<admin::MemberView> NodeAdminHooks::members() {
  // The snapshot's times are the membership runner's steady-clock milliseconds.
  std::int64_t now_ms = steady_ms(std::chrono::steady_clock::now());
  std::vector<admin::MemberView> members;
  for (const MemberSnapshot& member : membership_.snapshot()) {
    admin::MemberView view;
    view.name = member.name;
    view.gossip_address = member.gossip_address;
    view.client_address = member.client_address;
    view.state = to_admin(member.state);
    view.incarnation = member.incarnation;
    view.state_since_ms = member.state_since_ms;
    view.time_in_state_ms =
        static_cast<std::uint64_t>(std::max<std::int64_t>(0, now_ms - member.state_since_ms));
    view.restart_epoch = member.restart_epoch;
    view.is_self = member.name == service_.options().node_name;
    members.push_back(std::move(view));
  }
  return members;
}

admin::RingView NodeAdminHooks::ring() {
  auto placement = placement_.placement();
  admin::RingView view;
  view.version = placement->version();
  view.vnodes_per_member = placement->ring().options().vnodes_per_member;
  for (const route::NodeInfo& node : placement->members()) {
    view.members.push_back({node.name, fmt::format("{}:{}", node.client_host, node.client_port),
                            placement->share_of(node.name), node.name == placement->self_name()});
  }
  return view;
}

admin::StatsView NodeAdminHooks::stats() {
  service::ImService::Stats stats = service_.stats();
  admin::StatsView view;
  view.node_name = service_.options().node_name;
  view.uptime_ms = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - started_)
                                                  .count());
  view.connections = listener_.connection_count();
  view.sessions = stats.sessions;
  view.users_online = stats.users_online;
  view.messages_stored = stats.messages_stored;
  view.messages_pushed = stats.messages_pushed;
  view.requests = stats.requests;
  view.store_bytes = stats.store_bytes;
  // The gossip transport's counters live on the control thread inside MembershipNode, which
  // does not publish them yet; the reply says so by leaving them out.
  return view;
}

admin::OnlineView NodeAdminHooks::online(std::string_view after, std::uint32_t limit) {
  service::OnlinePage page = service_.online_users(after, limit);
  return admin::OnlineView{page.total, std::move(page.users), page.more};
}

Error NodeAdminHooks::create_user(std::string_view user, std::string_view password) {
  if (Error elsewhere = check_home(service_, user)) return elsewhere;
  return service_.register_account(user, password);
}

Error NodeAdminHooks::set_user_disabled(std::string_view user, bool disabled) {
  if (Error elsewhere = check_home(service_, user)) return elsewhere;
  return service_.set_account_disabled(user, disabled);
}

Error NodeAdminHooks::kick_user(std::string_view user) {
  if (Error elsewhere = check_home(service_, user)) return elsewhere;
  return end_sessions(service_, user);
}

Error NodeAdminHooks::reset_password(std::string_view user, std::string_view password) {
  if (Error invalid = service::ImService::validate_registration(user, password)) return invalid;
  if (Error elsewhere = check_home(service_, user)) return elsewhere;
  std::string key = service::keys::account(user);
  std::string value;
  if (Error error = kv_.get(store::Column::accounts, key, value)) {
    if (error.code == errc::not_found) return Error{errc::not_found, "user: no such user"};
    return Error{errc::internal, "reading the account failed: " + error.message};
  }
  service::AccountRecord account;
  if (!service::decode(value, account)) {
    return Error{errc::internal, "the account record is corrupted"};
  }
  auto hash = auth::hash_password(password, service_.options().password_cost);
  if (!hash) return Error{errc::internal, "hashing the password failed (out of memory)"};
  // The service has no administrative password change, so the record is rewritten here.
  // A login racing with this write could re-add a token it issued under the old password;
  // end_sessions() below revokes every token again through the service's own locking.
  account.password_hash = std::move(*hash);
  account.tokens.clear();
  account.hlc = std::max(account.hlc + 1, static_cast<std::uint64_t>(service_.clock().wall_ms()));
  store::WriteBatch batch;
  batch.put(store::Column::accounts, key, service::encode(account));
  bool sync = service_.options().durability == service::Durability::fsync;
  if (Error error = kv_.write(batch, sync)) {
    return Error{errc::internal, "storing the account failed: " + error.message};
  }
  return end_sessions(service_, user);
}

Error NodeAdminHooks::inspect_group(std::string_view group, admin::GroupView& view) {
  // Groups::members() answers members only; the owner is one, so ask as the owner.
  std::string value;
  if (Error error = kv_.get(store::Column::groups, service::keys::group(group), value)) {
    if (error.code == errc::not_found) return Error{errc::not_found, "group: no such group"};
    return Error{errc::internal, "reading the group failed: " + error.message};
  }
  service::GroupRecord record;
  if (!service::decode(value, record)) return Error{errc::internal, "the group is corrupted"};
  auto page = service_.groups().members(service::Caller{record.owner, {}, 0}, group);
  if (!page.ok()) return page.error;
  view.group = page.value.info.group;
  view.name = page.value.info.name;
  view.owner = page.value.info.owner;
  view.created_ms = page.value.info.created_ms;
  view.members.clear();
  for (const service::GroupMemberEntry& member : page.value.members) {
    view.members.push_back(admin::GroupMemberView{
        member.user, static_cast<admin::GroupRole>(member.role), member.online, member.joined_seq});
  }
  return {};
}

void NodeAdminHooks::request_leave() {
  request_leave_();
}

}  // namespace qim::node
