#include "node/admin_relay.h"

#include <asio/use_future.hpp>

#include <future>
#include <utility>

#include <fmt/core.h>

#include "proto/frame.h"
#include "proto/peer_frame.h"
#include "qim/ids.h"

namespace qim::node {
namespace {

using peer_wire::PeerKind;

// How much longer than a call's own deadline a blocking wait lasts before giving up on it
// (the call completes "shortly after" its deadline; this only guards against a stopped
// executor).
constexpr std::chrono::milliseconds wait_margin{1'000};

bool running_on(const asio::any_io_executor& executor) {
  const auto* context = executor.target<asio::io_context::executor_type>();
  return context != nullptr && context->running_in_this_thread();
}

net::PeerCallResult wait_for_reply(std::future<net::PeerCallResult>& answer,
                                   std::chrono::milliseconds timeout) {
  if (answer.wait_for(timeout + wait_margin) != std::future_status::ready) {
    return net::PeerCallResult::failure(errc::unavailable, "no answer before the deadline");
  }
  try {
    return answer.get();
  } catch (const std::exception& failure) {
    return net::PeerCallResult::failure(errc::unavailable, failure.what());
  }
}

std::optional<UserAction> to_action(peer_wire::AdminUserAction action) {
  switch (action) {
    case peer_wire::AdminUserAction::Create:
      return UserAction::create;
    case peer_wire::AdminUserAction::Disable:
      return UserAction::disable;
    case peer_wire::AdminUserAction::Enable:
      return UserAction::enable;
    case peer_wire::AdminUserAction::Kick:
      return UserAction::kick;
    case peer_wire::AdminUserAction::ResetPassword:
      return UserAction::reset_password;
    case peer_wire::AdminUserAction::Delete:
      return UserAction::remove;
  }
  return std::nullopt;
}

peer_wire::AdminUserAction to_wire(UserAction action) {
  switch (action) {
    case UserAction::create:
      return peer_wire::AdminUserAction::Create;
    case UserAction::disable:
      return peer_wire::AdminUserAction::Disable;
    case UserAction::enable:
      return peer_wire::AdminUserAction::Enable;
    case UserAction::kick:
      return peer_wire::AdminUserAction::Kick;
    case UserAction::reset_password:
      return peer_wire::AdminUserAction::ResetPassword;
    case UserAction::remove:
      return peer_wire::AdminUserAction::Delete;
  }
  return peer_wire::AdminUserAction::Kick;
}

static_assert(static_cast<int>(admin::GroupRole::owner) ==
              static_cast<int>(qim::wire::GroupRole::Owner));

}  // namespace

AdminRelay::AdminRelay(asio::any_io_executor executor, asio::any_io_executor blocking,
                       net::PeerLinks& links, service::ImService& service, store::Kv& kv,
                       const net::ClientListener& listener, core::Logger& logger, Options options)
    : executor_(executor),
      blocking_(std::move(blocking)),
      links_(links),
      logger_(logger),
      options_(options),
      local_(service, kv, listener, links, executor) {}

// --- Answering ---------------------------------------------------------------------------------

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(const peer_wire::NodeStatsQuery&) {
  admin::NodeStatsView stats = local_.stats();
  proto::PeerFrameBuilder builder;
  auto& fbb = builder.fbb();
  flatbuffers::Offset<peer_wire::NodeGossipCounters> gossip;
  if (stats.gossip) {
    const admin::GossipCountersView& g = *stats.gossip;
    gossip = peer_wire::CreateNodeGossipCounters(fbb, g.datagrams_received, g.datagrams_unsealable,
                                                 g.datagrams_sent, g.datagrams_send_failed,
                                                 g.push_pulls_served, g.push_pulls_refused,
                                                 g.push_pulls_completed, g.push_pulls_failed);
  }
  flatbuffers::Offset<peer_wire::NodeReplicationCounters> replication;
  if (stats.replication) {
    const admin::ReplicationCountersView& r = *stats.replication;
    replication = peer_wire::CreateNodeReplicationCounters(
        fbb, r.replicas_hosted, r.leaderships, r.leader_changes, r.leaderships_won,
        r.snapshots_sent, r.snapshots_received, r.proposals, r.proposals_failed);
  }
  co_return builder.finish_owned(
      0, PeerKind::Reply,
      peer_wire::CreateNodeStatsResult(
          fbb, stats.uptime_ms, stats.connections, stats.sessions, stats.users_online,
          stats.messages_stored, stats.messages_pushed, stats.requests, stats.store_bytes,
          stats.messages_in_per_s, stats.messages_out_per_s, stats.peer_queued_frames,
          stats.peer_queued_bytes, stats.peer_links_connected, stats.peer_frames_dropped, gossip,
          replication));
}

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(const peer_wire::AdminUserOp& op) {
  proto::PeerFrameBuilder builder;
  std::optional<UserAction> action = to_action(op.action());
  if (!action) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument, "action: unknown");
  }
  std::string user(proto::view(op.user()));
  std::string password(proto::view(op.password()));
  std::string device(proto::view(op.device()));
  if (device.size() > max_device_length) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument, "device: too long");
  }
  if (!is_valid_id(user)) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument,
                            "user: not 1-32 characters of [a-z0-9_.-]");
  }
  // On the blocking pool: creating a user and resetting a password hash the password.
  Error outcome = co_await asio::co_spawn(
      blocking_,
      [this, action = *action, &user, &password, &device]() -> asio::awaitable<Error> {
        switch (action) {
          case UserAction::create:
            co_return local_.create_user(user, password);
          case UserAction::disable:
            co_return local_.set_user_disabled(user, true);
          case UserAction::enable:
            co_return local_.set_user_disabled(user, false);
          case UserAction::kick:
            co_return local_.kick_user(user, device);
          case UserAction::reset_password:
            co_return local_.reset_password(user, password);
          case UserAction::remove:
            co_return local_.delete_account(user);
        }
        co_return Error{errc::invalid_argument, "action: unknown"};
      },
      asio::use_awaitable);
  if (outcome) co_return builder.error(0, PeerKind::Reply, outcome.code, outcome.message);
  co_return builder.finish_owned(0, PeerKind::Reply,
                                 peer_wire::CreateAdminUserOpDone(builder.fbb()));
}

asio::awaitable<std::vector<std::uint8_t>> AdminRelay::serve(
    const peer_wire::AdminGroupQuery& query) {
  proto::PeerFrameBuilder builder;
  std::string group(proto::view(query.group()));
  if (!is_valid_id(group)) {
    co_return builder.error(0, PeerKind::Reply, errc::invalid_argument,
                            "group: not 1-32 characters of [a-z0-9_.-]");
  }
  admin::GroupView view;
  // On the blocking pool: the members' online flags may be asked of their homes.
  Error outcome = co_await asio::co_spawn(
      blocking_,
      [this, &group, &view]() -> asio::awaitable<Error> {
        co_return local_.inspect_group(group, view);
      },
      asio::use_awaitable);
  if (outcome) co_return builder.error(0, PeerKind::Reply, outcome.code, outcome.message);
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::AdminGroupMember>> members;
  members.reserve(view.members.size());
  for (const admin::GroupMemberView& member : view.members) {
    members.push_back(peer_wire::CreateAdminGroupMemberDirect(
        fbb, member.user.c_str(), static_cast<qim::wire::GroupRole>(member.role), member.online,
        member.joined_seq));
  }
  co_return builder.finish_owned(
      0, PeerKind::Reply,
      peer_wire::CreateAdminGroupResultDirect(fbb, view.group.c_str(), view.name.c_str(),
                                              view.owner.c_str(), view.created_ms, &members));
}

// --- Asking ------------------------------------------------------------------------------------

Error AdminRelay::relayed(Error error, const std::string& node, std::string_view subject) {
  error.message = fmt::format("{} (at node {}, the home of {})", error.message, node, subject);
  return error;
}

std::vector<net::PeerCallResult> AdminRelay::call_each(const std::vector<std::string>& nodes,
                                                       const std::vector<std::uint8_t>& request,
                                                       std::chrono::milliseconds timeout) {
  std::vector<net::PeerCallResult> results;
  results.reserve(nodes.size());
  if (running_on(executor_)) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      results.push_back(net::PeerCallResult::failure(
          errc::internal, "a blocking peer call on the links' executor"));
    }
    return results;
  }
  std::vector<std::future<net::PeerCallResult>> calls;
  calls.reserve(nodes.size());
  for (const std::string& node : nodes) {
    calls.push_back(
        asio::co_spawn(executor_, links_.call(node, request, timeout), asio::use_future));
  }
  for (std::future<net::PeerCallResult>& call : calls)
    results.push_back(wait_for_reply(call, timeout));
  return results;
}

net::PeerCallResult AdminRelay::call_blocking(const std::string& node,
                                              std::vector<std::uint8_t> request,
                                              std::chrono::milliseconds timeout) {
  if (running_on(executor_)) {
    // Waiting here would stop the thread that must deliver the answer.
    return net::PeerCallResult::failure(errc::internal,
                                        "a blocking peer call on the links' executor");
  }
  std::future<net::PeerCallResult> answer =
      asio::co_spawn(executor_, links_.call(node, std::move(request), timeout), asio::use_future);
  return wait_for_reply(answer, timeout);
}

std::vector<admin::NodeStatsView> AdminRelay::stats_of(const std::vector<std::string>& nodes) {
  std::vector<admin::NodeStatsView> rows(nodes.size());
  if (running_on(executor_)) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      rows[i].node_name = nodes[i];
      rows[i].answered = false;
      rows[i].error = "asked on the links' executor";
    }
    return rows;
  }
  // Every node is asked before any answer is awaited.
  std::vector<std::future<net::PeerCallResult>> calls;
  calls.reserve(nodes.size());
  for (const std::string& node : nodes) {
    proto::PeerFrameBuilder builder;
    auto request =
        builder.finish_owned(0, PeerKind::Request, peer_wire::CreateNodeStatsQuery(builder.fbb()));
    calls.push_back(asio::co_spawn(executor_,
                                   links_.call(node, std::move(request), options_.stats_timeout),
                                   asio::use_future));
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    admin::NodeStatsView& row = rows[i];
    row.node_name = nodes[i];
    net::PeerCallResult reply = wait_for_reply(calls[i], options_.stats_timeout);
    const auto* result = reply.ok() ? reply.value.envelope().body_as_NodeStatsResult() : nullptr;
    if (result == nullptr) {
      row.answered = false;
      row.error = reply.ok() ? "an unexpected reply" : reply.error.message;
      logger_.debug("admin", "stats: no answer from {}: {}", nodes[i], row.error);
      continue;
    }
    row.uptime_ms = result->uptime_ms();
    row.connections = result->connections();
    row.sessions = result->sessions();
    row.users_online = result->users_online();
    row.messages_stored = result->messages_stored();
    row.messages_pushed = result->messages_pushed();
    row.requests = result->requests();
    row.store_bytes = result->store_bytes();
    row.messages_in_per_s = result->messages_in_per_s();
    row.messages_out_per_s = result->messages_out_per_s();
    row.peer_queued_frames = result->peer_queued_frames();
    row.peer_queued_bytes = result->peer_queued_bytes();
    row.peer_links_connected = result->peer_links_connected();
    row.peer_frames_dropped = result->peer_frames_dropped();
    if (const auto* g = result->gossip()) {
      row.gossip = admin::GossipCountersView{g->datagrams_received(),   g->datagrams_unsealable(),
                                             g->datagrams_sent(),       g->datagrams_send_failed(),
                                             g->push_pulls_served(),    g->push_pulls_refused(),
                                             g->push_pulls_completed(), g->push_pulls_failed()};
    }
    if (const auto* r = result->replication()) {
      row.replication = admin::ReplicationCountersView{
          r->replicas_hosted(), r->leaderships(),     r->leader_changes(),
          r->leaderships_won(), r->snapshots_sent(),  r->snapshots_received(),
          r->proposals(),       r->proposals_failed()};
    }
  }
  return rows;
}

std::vector<admin::NodeReplicaReport> AdminRelay::replica_reports(
    const std::vector<std::string>& nodes) {
  std::vector<admin::NodeReplicaReport> reports(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i)
    reports[i].node = nodes[i];
  if (running_on(executor_)) {
    for (admin::NodeReplicaReport& report : reports) {
      report.answered = false;
      report.error = "asked on the links' executor";
    }
    return reports;
  }
  std::vector<std::future<net::PeerCallResult>> calls;
  calls.reserve(nodes.size());
  for (const std::string& node : nodes) {
    proto::PeerFrameBuilder builder;
    auto request = builder.finish_owned(0, PeerKind::Request,
                                        peer_wire::CreateReplicaStatusQuery(builder.fbb()));
    calls.push_back(asio::co_spawn(executor_,
                                   links_.call(node, std::move(request), options_.stats_timeout),
                                   asio::use_future));
  }
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    admin::NodeReplicaReport& report = reports[i];
    net::PeerCallResult reply = wait_for_reply(calls[i], options_.stats_timeout);
    const auto* result =
        reply.ok() ? reply.value.envelope().body_as_ReplicaStatusResult() : nullptr;
    if (result == nullptr) {
      report.answered = false;
      report.error = reply.ok() ? "an unexpected reply" : reply.error.message;
      continue;
    }
    report.replica_id = result->replica_id();
    if (result->replicas() == nullptr) continue;
    auto ids = [](const flatbuffers::Vector<std::uint64_t>* vector) {
      return vector == nullptr ? std::vector<std::uint64_t>()
                               : std::vector<std::uint64_t>(vector->begin(), vector->end());
    };
    for (const peer_wire::ReplicaState* state : *result->replicas()) {
      admin::ReplicaStatusView& view = report.replicas.emplace_back();
      view.partition = state->partition();
      view.replica = state->replica();
      view.role = state->role();
      view.term = state->term();
      view.leader = state->leader();
      view.commit = state->commit();
      view.applied = state->applied();
      view.last_index = state->last_index();
      view.voters = ids(state->voters());
      view.learners = ids(state->learners());
      if (state->followers() != nullptr) {
        for (const peer_wire::FollowerState* follower : *state->followers()) {
          view.followers.push_back({follower->replica(), follower->match(), follower->learner(),
                                    follower->recently_active()});
        }
      }
    }
  }
  return reports;
}

Error AdminRelay::user_op(const std::string& node, UserAction action, std::string_view user,
                          std::string_view password, std::string_view device) {
  proto::PeerFrameBuilder builder(256 + password.size());
  auto& fbb = builder.fbb();
  auto user_offset = fbb.CreateString(user);
  flatbuffers::Offset<flatbuffers::String> password_offset;
  if (action == UserAction::create || action == UserAction::reset_password) {
    password_offset = fbb.CreateString(password);
  }
  flatbuffers::Offset<flatbuffers::String> device_offset;
  if (!device.empty()) device_offset = fbb.CreateString(device);
  auto request =
      builder.finish_owned(0, PeerKind::Request,
                           peer_wire::CreateAdminUserOp(fbb, to_wire(action), user_offset,
                                                        password_offset, device_offset));
  auto reply = call_blocking(node, std::move(request), options_.relay_timeout);
  std::string subject = fmt::format("user {}", user);
  if (!reply.ok()) return relayed(std::move(reply.error), node, subject);
  if (reply.value.envelope().body_as_AdminUserOpDone() == nullptr) {
    return relayed(Error{errc::internal, "an unexpected reply"}, node, subject);
  }
  return {};
}

Error AdminRelay::inspect_group(const std::string& node, std::string_view group,
                                admin::GroupView& view) {
  proto::PeerFrameBuilder builder;
  auto group_offset = builder.fbb().CreateString(group);
  auto request = builder.finish_owned(
      0, PeerKind::Request, peer_wire::CreateAdminGroupQuery(builder.fbb(), group_offset));
  auto reply = call_blocking(node, std::move(request), options_.relay_timeout);
  std::string subject = fmt::format("group {}", group);
  if (!reply.ok()) return relayed(std::move(reply.error), node, subject);
  const auto* result = reply.value.envelope().body_as_AdminGroupResult();
  if (result == nullptr)
    return relayed(Error{errc::internal, "an unexpected reply"}, node, subject);
  view.group = proto::view(result->group());
  view.name = proto::view(result->name());
  view.owner = proto::view(result->owner());
  view.created_ms = result->created_ms();
  view.members.clear();
  if (result->members() != nullptr) {
    view.members.reserve(result->members()->size());
    for (const auto* member : *result->members()) {
      auto role = static_cast<std::uint8_t>(member->role());
      if (role > static_cast<std::uint8_t>(admin::GroupRole::owner)) role = 0;
      view.members.push_back(admin::GroupMemberView{std::string(proto::view(member->user())),
                                                    static_cast<admin::GroupRole>(role),
                                                    member->online(), member->joined_seq()});
    }
  }
  return {};
}

}  // namespace qim::node
