#include "node/local_admin.h"

#include <algorithm>
#include <future>
#include <memory>
#include <utility>

#include <fmt/core.h>

#include "auth/password.h"
#include "qim/ids.h"
#include "service/keys.h"
#include "service/records.h"

namespace qim::node {
namespace {

// How long a stats request waits for the control thread to read the gossip counters; past
// it they are left out (the control thread is busy or stopping).
constexpr std::chrono::milliseconds gossip_read_timeout{500};

// True on the thread that runs `executor` (when it is an io_context's, as the control one is).
bool running_on(const asio::any_io_executor& executor) {
  const auto* context = executor.target<asio::io_context::executor_type>();
  return context != nullptr && context->running_in_this_thread();
}

admin::GossipCountersView to_view(const net::GossipTransportCounters& c) {
  return admin::GossipCountersView{
      c.datagrams_received, c.datagrams_unsealable, c.datagrams_sent,       c.datagrams_send_failed,
      c.push_pulls_served,  c.push_pulls_refused,   c.push_pulls_completed, c.push_pulls_failed};
}

// Waits for an asynchronous service write (administration runs off the I/O threads, and its
// proposals are applied without this thread).
Error wait_for(const std::function<void(service::Done)>& start) {
  std::promise<Error> outcome;
  auto future = outcome.get_future();
  start([&outcome](Error error) { outcome.set_value(std::move(error)); });
  return future.get();
}

// Closes every session of `user` and revokes their tokens (the Logout-on-all-devices path, with
// no session of ours to spare).
Error end_sessions(service::ImService& service, std::string_view user) {
  return wait_for([&](service::Done done) {
    service.logout(service::Caller{user, {}, 0}, true, auth::TokenDigest{}, std::move(done));
  });
}

static_assert(static_cast<std::uint8_t>(replication::raft::Role::leader) == admin::role_leader);

}  // namespace

LocalAdmin::LocalAdmin(service::ImService& service, store::Kv& kv,
                       const net::ClientListener& listener, const net::PeerLinks& links,
                       asio::any_io_executor control)
    : service_(service),
      kv_(kv),
      listener_(listener),
      links_(links),
      control_(std::move(control)),
      started_(std::chrono::steady_clock::now()),
      in_rate_(started_),
      out_rate_(started_) {}

admin::NodeStatsView LocalAdmin::stats() {
  service::ImService::Stats stats = service_.stats();
  net::PeerLinkStats peers = links_.stats();
  auto now = std::chrono::steady_clock::now();
  admin::NodeStatsView view;
  view.node_name = node_name();
  view.uptime_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count());
  view.connections = listener_.connection_count();
  view.sessions = stats.sessions;
  view.users_online = stats.users_online;
  view.messages_stored = stats.messages_stored;
  view.messages_pushed = stats.messages_pushed;
  view.requests = stats.requests;
  view.store_bytes = stats.store_bytes;
  {
    std::lock_guard lock(rates_mutex_);
    view.messages_in_per_s = in_rate_.sample(now, stats.messages_stored);
    view.messages_out_per_s = out_rate_.sample(now, stats.messages_pushed);
  }
  view.peer_queued_frames = peers.queued_frames;
  view.peer_queued_bytes = peers.queued_bytes;
  view.peer_links_connected = peers.outbound_connected;
  view.peer_frames_dropped = peers.frames_dropped;
  view.gossip = gossip();
  if (replicas_ != nullptr) {
    const replica::ReplicaProbe& probe = replicas_->probe();
    auto read = [](const std::atomic<std::uint64_t>& counter) {
      return counter.load(std::memory_order_relaxed);
    };
    view.replication = admin::ReplicationCountersView{
        replicas_->hosted(),         replicas_->leaderships(),    read(probe.leader_changes),
        read(probe.leaderships_won), read(probe.snapshots_sent),  read(probe.snapshots_received),
        read(probe.proposals),       read(probe.proposals_failed)};
  }
  return view;
}

std::vector<admin::ReplicaStatusView> LocalAdmin::replica_statuses() const {
  std::vector<admin::ReplicaStatusView> views;
  if (replicas_ == nullptr) return views;
  for (const replica::ReplicaStatus& status : replicas_->status()) {
    admin::ReplicaStatusView& view = views.emplace_back();
    view.partition = status.partition;
    view.replica = status.replica;
    view.role = static_cast<std::uint8_t>(status.role);
    view.term = status.term;
    view.leader = status.leader;
    view.commit = status.commit;
    view.applied = status.applied;
    view.last_index = status.last_index;
    view.voters = status.config.voters;
    view.learners = status.config.learners;
    for (const replication::raft::FollowerStatus& follower : status.followers) {
      view.followers.push_back(
          {follower.id, follower.match, follower.learner, follower.recently_active});
    }
  }
  return views;
}

std::optional<admin::GossipCountersView> LocalAdmin::gossip() {
  const MembershipNode* membership = membership_;
  if (membership == nullptr) return std::nullopt;
  if (running_on(control_)) return to_view(membership->transport_counters());
  auto promise = std::make_shared<std::promise<admin::GossipCountersView>>();
  std::future<admin::GossipCountersView> counters = promise->get_future();
  asio::post(control_, [promise, membership] {
    promise->set_value(to_view(membership->transport_counters()));
  });
  if (counters.wait_for(gossip_read_timeout) != std::future_status::ready) return std::nullopt;
  try {
    return counters.get();
  } catch (const std::future_error&) {  // the control thread stopped before reading them
    return std::nullopt;
  }
}

Error LocalAdmin::check_home(std::string_view key, std::string_view what) const {
  if (auto home = service_.home_elsewhere(key)) {
    return Error{errc::wrong_node,
                 fmt::format("{}'s home is node {}, not {} (the cluster is changing; retry)", what,
                             home->name, service_.options().node_name)};
  }
  if (!service_.ready(key)) {
    return Error{errc::unavailable,
                 fmt::format("{}'s records are being handed over to node {}; retry shortly", what,
                             service_.options().node_name)};
  }
  return {};
}

Error LocalAdmin::create_user(std::string_view user, std::string_view password) {
  if (Error elsewhere = check_home(user, fmt::format("user {}", user))) return elsewhere;
  return wait_for(
      [&](service::Done done) { service_.register_account(user, password, std::move(done)); });
}

Error LocalAdmin::set_user_disabled(std::string_view user, bool disabled) {
  if (Error elsewhere = check_home(user, fmt::format("user {}", user))) return elsewhere;
  return wait_for(
      [&](service::Done done) { service_.set_account_disabled(user, disabled, std::move(done)); });
}

Error LocalAdmin::kick_user(std::string_view user, std::string_view device) {
  if (Error elsewhere = check_home(user, fmt::format("user {}", user))) return elsewhere;
  if (device.empty()) return end_sessions(service_, user);
  return wait_for([&](service::Done done) { service_.kick_device(user, device, std::move(done)); });
}

Error LocalAdmin::show_user(std::string_view user, admin::UserShowView& view) {
  if (Error elsewhere = check_home(user, fmt::format("user {}", user))) return elsewhere;
  auto summary = service_.describe_user(user);
  if (!summary.ok()) return summary.error;
  view.user = std::string(user);
  view.home_node = node_name();
  view.partition = service_.keys().partition_of(user);
  view.created_ms = summary.value.created_ms;
  view.disabled = summary.value.disabled;
  view.sessions = summary.value.sessions;
  view.friends = summary.value.friends;
  view.groups = std::move(summary.value.groups);
  view.devices.clear();
  for (const service::DeviceSummary& device : summary.value.devices) {
    view.devices.push_back(admin::DeviceView{device.device, device.sessions,
                                             device.token_created_ms, device.token_last_used_ms});
  }
  return {};
}

Error LocalAdmin::delete_account(std::string_view user) {
  if (Error elsewhere = check_home(user, fmt::format("user {}", user))) return elsewhere;
  if (Error missing = service_.accounts().exists(user)) return missing;
  return wait_for([&](service::Done done) {
    service_.purge_user(user, service_.keys().partition_of(user), std::move(done));
  });
}

Error LocalAdmin::dissolve_group(std::string_view group) {
  if (Error elsewhere = check_home(group_conversation(group), fmt::format("group {}", group))) {
    return elsewhere;
  }
  auto page = service_.groups().inspect(group);
  if (!page.ok()) return page.error;
  // As its owner would: the same command, checks and pushes.
  std::string owner = page.value.info.owner;
  return wait_for([&](service::Done done) {
    service_.groups().dissolve(service::Caller{owner, {}, 0}, group, std::move(done));
  });
}

service::NamePage LocalAdmin::names_here(admin::NameKind kind, std::string_view prefix,
                                         std::string_view after, std::uint32_t limit) const {
  return service_.names_here(
      kind == admin::NameKind::users ? service::NameKind::users : service::NameKind::groups, prefix,
      after, limit);
}

Error LocalAdmin::purge_user(std::string_view user, std::vector<std::uint32_t>& partitions) {
  // Direct messages to the user must look the account up again (and find it gone).
  if (service::ClusterQueries* cluster = service_.cluster()) cluster->forget_user(user);
  // The partitions led now; those among them holding records are purged, the rest hold none.
  std::vector<service::PartitionId> led = service_.proposer().readable_partitions();
  std::vector<service::PartitionId> targets = service_.purge_targets(user, led);
  std::vector<std::future<Error>> outcomes;
  outcomes.reserve(targets.size());
  for (service::PartitionId partition : targets) {
    auto outcome = std::make_shared<std::promise<Error>>();
    outcomes.push_back(outcome->get_future());
    service_.purge_user(user, partition,
                        [outcome](Error error) { outcome->set_value(std::move(error)); });
  }
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (Error failed = outcomes[i].get()) {
      failed.message = fmt::format("partition {}: {}", targets[i], failed.message);
      return failed;
    }
  }
  service::PartitionId own = service_.keys().partition_of(user);
  partitions.clear();
  for (service::PartitionId partition : led) {
    if (partition != own) partitions.push_back(partition);
  }
  return {};
}

Error LocalAdmin::reset_password(std::string_view user, std::string_view password) {
  if (Error invalid = service::ImService::validate_registration(user, password)) return invalid;
  if (Error elsewhere = check_home(user, fmt::format("user {}", user))) return elsewhere;
  return wait_for(
      [&](service::Done done) { service_.reset_password(user, password, std::move(done)); });
}

Error LocalAdmin::inspect_group(std::string_view group, admin::GroupView& view) {
  if (Error elsewhere = check_home(group_conversation(group), fmt::format("group {}", group))) {
    return elsewhere;
  }
  auto page = service_.groups().inspect(group);
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

}  // namespace qim::node
