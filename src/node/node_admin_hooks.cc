#include "node/node_admin_hooks.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <utility>

#include <fmt/core.h>

#include "qim/ids.h"
#include "session/session.h"

namespace qim::node {
namespace {

// How long `online` waits for the other nodes' pages (each of their calls has its own,
// shorter deadline: this only bounds a stopped executor).
constexpr std::chrono::milliseconds online_wait{5'000};

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

}  // namespace

NodeAdminHooks::NodeAdminHooks(AdminRelay& relay, service::ImService& service,
                               const MembershipNode& membership,
                               const service::PlacementSource& placement,
                               const route::Partitions& partitions, std::uint32_t vnodes_per_member,
                               std::uint32_t replicas_wanted, std::function<void()> request_leave,
                               Backups& backups)
    : relay_(relay),
      service_(service),
      membership_(membership),
      placement_(placement),
      partitions_(partitions),
      vnodes_per_member_(vnodes_per_member),
      replicas_wanted_(replicas_wanted),
      request_leave_(std::move(request_leave)),
      backups_(backups) {}

std::string NodeAdminHooks::node_name() const {
  return service_.options().node_name;
}

std::vector<std::string> NodeAdminHooks::live_members() const {
  std::vector<std::string> names;
  for (const MemberSnapshot& member : membership_.snapshot()) {
    if (cluster::swim::is_live(member.state)) names.push_back(member.name);
  }
  // The snapshot includes this node from start(); a node that has left lists itself as left,
  // but it still answers for itself.
  if (std::find(names.begin(), names.end(), node_name()) == names.end()) {
    names.push_back(node_name());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<admin::MemberView> NodeAdminHooks::members() {
  // The snapshot's times are the membership runner's steady-clock milliseconds.
  std::int64_t now_ms = steady_ms(std::chrono::steady_clock::now());
  auto placement = placement_.placement();
  std::uint32_t vnodes = vnodes_per_member_;
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
    // Every member places the same number of virtual nodes (--vnodes, agreed cluster-wide);
    // a member this node does not route to has none.
    view.vnodes = placement->find(member.name) != nullptr ? vnodes : 0;
    members.push_back(std::move(view));
  }
  return members;
}

admin::RingView NodeAdminHooks::ring() {
  auto placement = placement_.placement();
  admin::RingView view;
  view.version = placement->version();
  view.vnodes_per_member = vnodes_per_member_;
  // A member's share is the fraction of the partitions it leads (their keys are homed there).
  double partitions = placement->partitions().count();
  for (const route::NodeInfo& node : placement->members()) {
    view.members.push_back({node.name, fmt::format("{}:{}", node.client_host, node.client_port),
                            static_cast<double>(placement->leaderships(node.name)) / partitions,
                            node.name == placement->self_name()});
  }
  return view;
}

Error NodeAdminHooks::stats(const admin::StatsScope& scope, admin::StatsView& view) {
  std::vector<std::string> live = live_members();
  view.nodes_live = static_cast<std::uint32_t>(live.size());
  view.self = relay_.local().stats();
  view.self.is_self = true;
  std::vector<std::string> asked;
  if (!scope.node.empty()) {
    if (std::find(live.begin(), live.end(), scope.node) == live.end()) {
      return Error{errc::not_found,
                   fmt::format("node: {} is not a live member (see qimctl members)", scope.node)};
    }
    asked.push_back(scope.node);
  } else if (scope.cluster) {
    asked = live;
  } else {
    asked.push_back(node_name());
  }
  std::vector<std::string> others;
  for (const std::string& name : asked) {
    if (name != node_name()) others.push_back(name);
  }
  view.nodes = relay_.stats_of(others);
  if (others.size() < asked.size()) view.nodes.push_back(view.self);
  return {};
}

admin::OnlineView NodeAdminHooks::online(std::string_view after, std::uint32_t limit,
                                         bool cluster) {
  service::OnlinePage here = service_.online_users(after, limit);
  service::ClusterQueries* queries = service_.cluster();
  if (!cluster || queries == nullptr) {
    return admin::OnlineView{here.total, std::move(here.users), here.more, 1, 1};
  }
  std::uint32_t live = static_cast<std::uint32_t>(live_members().size());
  // Every other node is asked at once (ClusterQueries::online_elsewhere); its callback runs
  // exactly once, by the calls' deadlines.
  auto answered = std::make_shared<std::promise<std::vector<service::OnlinePage>>>();
  std::future<std::vector<service::OnlinePage>> pages_future = answered->get_future();
  queries->online_elsewhere(std::string(after), limit,
                            [answered](std::vector<service::OnlinePage> pages) {
                              answered->set_value(std::move(pages));
                            });
  std::vector<service::OnlinePage> pages;
  if (pages_future.wait_for(online_wait) == std::future_status::ready) {
    try {
      pages = pages_future.get();
    } catch (const std::future_error&) {  // the links stopped before answering
    }
  }
  pages.push_back(std::move(here));
  service::OnlinePage merged = service::merge_online_pages(pages, limit);
  return admin::OnlineView{merged.total, std::move(merged.users), merged.more,
                           static_cast<std::uint32_t>(pages.size()), std::max(live, 1u)};
}

Error NodeAdminHooks::on_home(UserAction action, std::string_view user, std::string_view password,
                              std::string_view device) {
  auto placement = placement_.placement();
  const route::NodeInfo& home = placement->home_of(user);
  if (home.name != placement->self_name()) {
    return relay_.user_op(home.name, action, user, password, device);
  }
  LocalAdmin& local = relay_.local();
  switch (action) {
    case UserAction::create:
      return local.create_user(user, password);
    case UserAction::disable:
      return local.set_user_disabled(user, true);
    case UserAction::enable:
      return local.set_user_disabled(user, false);
    case UserAction::kick:
      return local.kick_user(user, device);
    case UserAction::reset_password:
      return local.reset_password(user, password);
    case UserAction::remove:
      return local.delete_account(user);
  }
  return Error{errc::invalid_argument, "action: unknown"};
}

Error NodeAdminHooks::create_user(std::string_view user, std::string_view password) {
  // Checked before anything travels: the home would refuse it the same way.
  if (Error invalid = service::ImService::validate_registration(user, password)) return invalid;
  return on_home(UserAction::create, user, password);
}

Error NodeAdminHooks::set_user_disabled(std::string_view user, bool disabled) {
  return on_home(disabled ? UserAction::disable : UserAction::enable, user, {});
}

Error NodeAdminHooks::kick_user(std::string_view user, std::string_view device) {
  return on_home(UserAction::kick, user, {}, device);
}

Error NodeAdminHooks::show_user(std::string_view user, admin::UserShowView& view) {
  auto placement = placement_.placement();
  const route::NodeInfo& home = placement->home_of(user);
  if (home.name != placement->self_name()) return relay_.show_user(home.name, user, view);
  return relay_.local().show_user(user, view);
}

Error NodeAdminHooks::delete_user(std::string_view user) {
  // Disabled first: the sessions end and no login or new record of the user's own begins
  // while the records go. Not found ends it here.
  if (Error failed = on_home(UserAction::disable, user, {})) return failed;
  std::vector<std::string> others;
  for (const std::string& name : live_members()) {
    if (name != node_name()) others.push_back(name);
  }
  std::vector<PurgeReport> reports = relay_.purge_user(others, user);
  PurgeReport& here = reports.emplace_back();
  here.node = node_name();
  here.error = relay_.local().purge_user(user, here.partitions);
  std::vector<bool> purged(partitions_.count(), false);
  purged[partitions_.of(user)] = true;  // the account's partition goes last, below
  for (const PurgeReport& report : reports) {
    if (report.error) {
      return Error{report.error.code,
                   fmt::format("user {} is disabled but not deleted: node {}: {}; run the delete "
                               "again",
                               user, report.node, report.error.message)};
    }
    for (std::uint32_t partition : report.partitions) {
      if (partition < purged.size()) purged[partition] = true;
    }
  }
  std::vector<std::uint32_t> missing;
  for (std::uint32_t partition = 0; partition < purged.size(); ++partition) {
    if (!purged[partition]) missing.push_back(partition);
  }
  if (!missing.empty()) {
    return Error{errc::unavailable,
                 fmt::format("user {} is disabled but not deleted: no leader answered for {} "
                             "partition(s) (the first: {}); run the delete again once every "
                             "partition has a leader (qimctl partitions)",
                             user, missing.size(), missing.front())};
  }
  return on_home(UserAction::remove, user, {});
}

Error NodeAdminHooks::dissolve_group(std::string_view group) {
  auto placement = placement_.placement();
  const route::NodeInfo& home = placement->home_of(group_conversation(group));
  if (home.name != placement->self_name()) return relay_.dissolve_group(home.name, group);
  return relay_.local().dissolve_group(group);
}

admin::NameListView NodeAdminHooks::list_names(admin::NameKind kind, std::string_view prefix,
                                               std::string_view after, std::uint32_t limit) {
  std::vector<std::string> others;
  for (const std::string& name : live_members()) {
    if (name != node_name()) others.push_back(name);
  }
  std::vector<service::NamePage> pages = relay_.name_pages(others, kind, prefix, after, limit);
  pages.push_back(relay_.local().names_here(kind, prefix, after, limit));
  admin::NameListView view;
  service::NamePage merged = service::merge_name_pages(pages, limit, view.more);
  view.names = std::move(merged.names);
  view.partitions_read = static_cast<std::uint32_t>(merged.partitions.size());
  view.partition_count = partitions_.count();
  return view;
}

Error NodeAdminHooks::reset_password(std::string_view user, std::string_view password) {
  if (Error invalid = service::ImService::validate_registration(user, password)) return invalid;
  return on_home(UserAction::reset_password, user, password);
}

Error NodeAdminHooks::inspect_group(std::string_view group, admin::GroupView& view) {
  auto placement = placement_.placement();
  const route::NodeInfo& home = placement->home_of(group_conversation(group));
  if (home.name != placement->self_name()) return relay_.inspect_group(home.name, group, view);
  return relay_.local().inspect_group(group, view);
}

admin::PartitionTableView NodeAdminHooks::partitions() {
  std::vector<admin::MemberReplica> members;
  std::vector<std::string> others;
  std::uint64_t self_replica = 0;
  for (const MemberSnapshot& member : membership_.snapshot()) {
    bool live = cluster::swim::is_live(member.state);
    members.push_back({member.name, member.replica_id, live || member.name == node_name()});
    if (member.name == node_name()) {
      self_replica = member.replica_id;
    } else if (live) {
      others.push_back(member.name);
    }
  }
  std::sort(others.begin(), others.end());
  std::vector<admin::NodeReplicaReport> reports = relay_.replica_reports(others);
  admin::NodeReplicaReport& self = reports.emplace_back();
  self.node = node_name();
  self.replica_id = self_replica;
  self.replicas = relay_.local().replica_statuses();
  return admin::merge_partition_reports(reports, members, partitions_.count(), replicas_wanted_);
}

admin::WhereView NodeAdminHooks::where(std::string_view placement_key) {
  admin::WhereView view;
  view.placement_key = std::string(placement_key);
  view.partition = partitions_.of(placement_key);
  admin::PartitionTableView table = partitions();
  if (view.partition < table.rows.size()) view.row = table.rows[view.partition];
  return view;
}

Error NodeAdminHooks::backup(std::string_view directory, admin::BackupView& view) {
  view.directory = std::string(directory);
  view.node_name = node_name();
  view.version = session::server_version;
  view.created_ms = static_cast<std::uint64_t>(service_.clock().wall_ms());
  // Read before the checkpoint: the copy holds at least these applied entries.
  for (const admin::ReplicaStatusView& status : relay_.local().replica_statuses()) {
    view.partitions.push_back(
        {status.partition, status.applied, status.term, status.role == admin::role_leader});
  }
  std::sort(view.partitions.begin(), view.partitions.end(),
            [](const admin::BackupPartitionView& a, const admin::BackupPartitionView& b) {
              return a.partition < b.partition;
            });
  return backups_.take(view);
}

void NodeAdminHooks::request_leave() {
  request_leave_();
}

}  // namespace qim::node
