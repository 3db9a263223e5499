#include "admin/admin_dispatch.h"

#include <algorithm>

#include <fmt/core.h>

#include "admin/admin_token.h"
#include "proto/frame.h"
#include "qim/ids.h"

namespace qim::admin {
namespace {

using proto::view;
namespace wire = admin_wire;

static_assert(static_cast<int>(MemberState::left) == static_cast<int>(wire::MemberState::Left));
static_assert(static_cast<int>(GroupRole::owner) == static_cast<int>(qim::wire::GroupRole::Owner));

// A user or group id from a request: present and well formed, else the error names `field`.
Error check_id(std::string_view id, std::string_view field) {
  if (id.empty()) return Error{errc::invalid_argument, fmt::format("{}: missing", field)};
  if (!is_valid_id(id)) {
    return Error{errc::invalid_argument,
                 fmt::format("{}: '{}' is not 1-32 characters of [a-z0-9_.-]", field,
                             id.substr(0, max_id_length + 8))};
  }
  return {};
}

// A member name as qimd accepts it (--node-name): 1-64 characters of [A-Za-z0-9_.-].
bool is_member_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

flatbuffers::Offset<wire::PartitionRow> encode_row(flatbuffers::FlatBufferBuilder& fbb,
                                                   const PartitionRowView& row) {
  auto strings = [&fbb](const std::vector<std::string>& names) {
    return fbb.CreateVectorOfStrings(names);
  };
  auto leader = fbb.CreateString(row.leader);
  auto voters = strings(row.voters);
  auto learners = strings(row.learners);
  auto down = strings(row.down);
  return wire::CreatePartitionRow(fbb, row.partition, leader, row.leader_confirmed, row.term,
                                  row.commit, row.last_index, voters, learners, down, row.lag,
                                  row.under_replicated);
}

}  // namespace

Error parse_where_key(std::string_view key, std::string& placement_key, std::string& kind) {
  constexpr std::string_view group_word = "group ";
  if (key.starts_with(group_word)) {
    std::string_view group = key.substr(group_word.size());
    if (Error invalid = check_id(group, "group")) return invalid;
    placement_key = group_conversation(group);
    kind = "group";
    return {};
  }
  if (key.size() >= 2 && key[1] == ':') {
    std::string_view rest = key.substr(2);
    if (key[0] == 'g' && is_valid_id(rest)) {
      placement_key = std::string(key);
      kind = "group";
      return {};
    }
    auto colon = rest.find(':');
    if (key[0] == 'd' && colon != std::string_view::npos) {
      std::string_view a = rest.substr(0, colon), b = rest.substr(colon + 1);
      if (is_valid_id(a) && is_valid_id(b) && a != b) {
        placement_key = direct_conversation(a, b);
        kind = "direct";
        return {};
      }
    }
    return Error{errc::invalid_argument,
                 fmt::format("key: '{}' is not d:<user>:<user> or g:<group>",
                             key.substr(0, 2 * max_id_length + 8))};
  }
  if (Error invalid = check_id(key, "key")) {
    invalid.message += " (or d:<user>:<user>, g:<group>, group <group>)";
    return invalid;
  }
  placement_key = std::string(key);
  kind = "user";
  return {};
}

AdminDispatcher::AdminDispatcher(AdminHooks& hooks, const std::string& expected_token,
                                 std::string_view version)
    : hooks_(hooks), expected_token_(expected_token), version_(version) {}

AdminReply AdminDispatcher::handle(std::span<const std::uint8_t> payload) {
  Error verify_error;
  const wire::AdminEnvelope* envelope = verify_admin_envelope(payload, verify_error);
  if (envelope == nullptr) {
    return error(0, verify_error.code, verify_error.message, AdminReply::After::close);
  }
  if (!authenticated_) {
    if (const auto* hello_request = envelope->body_as_AdminHello()) {
      return hello(envelope->req_id(), *hello_request);
    }
    return error(envelope->req_id(), errc::not_authenticated,
                 "the first frame must be AdminHello with the admin token",
                 AdminReply::After::close);
  }
  return request(*envelope);
}

AdminReply AdminDispatcher::hello(std::uint32_t req_id, const wire::AdminHello& request) {
  if (request.token() == nullptr || request.token()->size() == 0) {
    return error(req_id, errc::not_authenticated, "token: missing", AdminReply::After::close);
  }
  if (!admin_token_matches(view(request.token()), expected_token_)) {
    return error(req_id, errc::auth_failed, "token: not this node's admin token",
                 AdminReply::After::close);
  }
  authenticated_ = true;
  builder_.reset();
  auto& fbb = builder_.fbb();
  auto name = fbb.CreateString(hooks_.node_name());
  auto version = fbb.CreateString(version_);
  return finish(req_id, wire::CreateAdminHelloOk(fbb, name, version));
}

AdminReply AdminDispatcher::request(const wire::AdminEnvelope& envelope) {
  std::uint32_t req_id = envelope.req_id();
  switch (envelope.body_type()) {
    case wire::AdminBody::MembersRequest:
      return members(req_id);
    case wire::AdminBody::StatsRequest:
      return stats(req_id, *envelope.body_as_StatsRequest());
    case wire::AdminBody::RingRequest:
      return ring(req_id);
    case wire::AdminBody::OnlineRequest:
      return online(req_id, *envelope.body_as_OnlineRequest());
    case wire::AdminBody::UserCreate: {
      const auto& create = *envelope.body_as_UserCreate();
      if (Error invalid = check_id(view(create.user()), "user")) return outcome(req_id, invalid);
      return outcome(req_id, hooks_.create_user(view(create.user()), view(create.password())));
    }
    case wire::AdminBody::UserSetDisabled: {
      const auto& change = *envelope.body_as_UserSetDisabled();
      if (Error invalid = check_id(view(change.user()), "user")) return outcome(req_id, invalid);
      return outcome(req_id, hooks_.set_user_disabled(view(change.user()), change.disabled()));
    }
    case wire::AdminBody::UserKick: {
      const auto& kick = *envelope.body_as_UserKick();
      if (Error invalid = check_id(view(kick.user()), "user")) return outcome(req_id, invalid);
      std::string_view device = view(kick.device());
      if (device.size() > max_device_length) {
        return error(req_id, errc::invalid_argument,
                     fmt::format("device: at most {} bytes", max_device_length));
      }
      return outcome(req_id, hooks_.kick_user(view(kick.user()), device));
    }
    case wire::AdminBody::BackupRequest:
      return backup(req_id, *envelope.body_as_BackupRequest());
    case wire::AdminBody::UserShowRequest:
      return show_user(req_id, *envelope.body_as_UserShowRequest());
    case wire::AdminBody::NameListRequest:
      return list_names(req_id, *envelope.body_as_NameListRequest());
    case wire::AdminBody::UserDelete: {
      const auto& remove = *envelope.body_as_UserDelete();
      if (Error invalid = check_id(view(remove.user()), "user")) return outcome(req_id, invalid);
      return outcome(req_id, hooks_.delete_user(view(remove.user())));
    }
    case wire::AdminBody::GroupDissolveRequest: {
      const auto& dissolve = *envelope.body_as_GroupDissolveRequest();
      if (Error invalid = check_id(view(dissolve.group()), "group")) {
        return outcome(req_id, invalid);
      }
      return outcome(req_id, hooks_.dissolve_group(view(dissolve.group())));
    }
    case wire::AdminBody::UserResetPassword: {
      const auto& reset = *envelope.body_as_UserResetPassword();
      if (Error invalid = check_id(view(reset.user()), "user")) return outcome(req_id, invalid);
      return outcome(req_id, hooks_.reset_password(view(reset.user()), view(reset.password())));
    }
    case wire::AdminBody::GroupInspectRequest:
      return group(req_id, *envelope.body_as_GroupInspectRequest());
    case wire::AdminBody::PartitionsRequest:
      return partitions(req_id);
    case wire::AdminBody::WhereRequest:
      return where(req_id, *envelope.body_as_WhereRequest());
    case wire::AdminBody::LeaveRequest:
      builder_.reset();
      return finish(req_id, wire::CreateAdminOk(builder_.fbb()), AdminReply::After::leave);
    case wire::AdminBody::AdminHello:
      return error(req_id, errc::already_authenticated, "this connection is authenticated");
    default:
      return error(req_id, errc::unexpected_message,
                   fmt::format("body: {} is not an admin request",
                               wire::EnumNameAdminBody(envelope.body_type())));
  }
}

AdminReply AdminDispatcher::members(std::uint32_t req_id) {
  std::vector<MemberView> members = hooks_.members();
  std::sort(members.begin(), members.end(),
            [](const MemberView& a, const MemberView& b) { return a.name < b.name; });
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<wire::Member>> encoded;
  encoded.reserve(members.size());
  for (const MemberView& member : members) {
    encoded.push_back(wire::CreateMemberDirect(
        fbb, member.name.c_str(), member.gossip_address.c_str(), member.client_address.c_str(),
        static_cast<wire::MemberState>(member.state), member.incarnation, member.state_since_ms,
        member.time_in_state_ms, member.restart_epoch, member.is_self, member.vnodes));
  }
  return finish(req_id, wire::CreateMembersResultDirect(fbb, &encoded));
}

AdminReply AdminDispatcher::ring(std::uint32_t req_id) {
  RingView ring = hooks_.ring();
  std::sort(ring.members.begin(), ring.members.end(),
            [](const RingMemberView& a, const RingMemberView& b) { return a.name < b.name; });
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<wire::RingMember>> encoded;
  encoded.reserve(ring.members.size());
  for (const RingMemberView& member : ring.members) {
    encoded.push_back(wire::CreateRingMemberDirect(
        fbb, member.name.c_str(), member.client_address.c_str(), member.share, member.is_self));
  }
  return finish(req_id,
                wire::CreateRingResultDirect(fbb, ring.version, ring.vnodes_per_member, &encoded));
}

AdminReply AdminDispatcher::stats(std::uint32_t req_id, const wire::StatsRequest& request) {
  StatsScope scope{request.cluster(), std::string(view(request.node()))};
  if (!scope.node.empty() && !is_member_name(scope.node)) {
    return error(req_id, errc::invalid_argument,
                 fmt::format("node: '{}' is not 1-64 characters of [A-Za-z0-9_.-]",
                             scope.node.substr(0, 72)));
  }
  StatsView stats;
  if (Error failed = hooks_.stats(scope, stats)) return outcome(req_id, failed);
  std::sort(
      stats.nodes.begin(), stats.nodes.end(),
      [](const NodeStatsView& a, const NodeStatsView& b) { return a.node_name < b.node_name; });
  builder_.reset();
  auto& fbb = builder_.fbb();
  auto encode_gossip = [&fbb](const std::optional<GossipCountersView>& counters) {
    if (!counters) return flatbuffers::Offset<wire::GossipCounters>();
    const GossipCountersView& g = *counters;
    return wire::CreateGossipCounters(fbb, g.datagrams_received, g.datagrams_unsealable,
                                      g.datagrams_sent, g.datagrams_send_failed,
                                      g.push_pulls_served, g.push_pulls_refused,
                                      g.push_pulls_completed, g.push_pulls_failed);
  };
  auto encode_replication = [&fbb](const std::optional<ReplicationCountersView>& counters) {
    if (!counters) return flatbuffers::Offset<wire::ReplicationCounters>();
    const ReplicationCountersView& r = *counters;
    return wire::CreateReplicationCounters(fbb, r.replicas_hosted, r.leaderships, r.leader_changes,
                                           r.leaderships_won, r.snapshots_sent,
                                           r.snapshots_received, r.proposals, r.proposals_failed);
  };
  std::vector<flatbuffers::Offset<wire::NodeStats>> rows;
  rows.reserve(stats.nodes.size());
  for (const NodeStatsView& node : stats.nodes) {
    auto gossip = encode_gossip(node.gossip);
    auto replication = encode_replication(node.replication);
    rows.push_back(wire::CreateNodeStatsDirect(
        fbb, node.node_name.c_str(), node.is_self, node.answered, node.error.c_str(),
        node.uptime_ms, node.connections, node.sessions, node.users_online, node.messages_stored,
        node.messages_pushed, node.requests, node.store_bytes, node.messages_in_per_s,
        node.messages_out_per_s, node.peer_queued_frames, node.peer_queued_bytes,
        node.peer_links_connected, node.peer_frames_dropped, gossip, replication));
  }
  const NodeStatsView& self = stats.self;
  auto gossip = encode_gossip(self.gossip);
  auto result = wire::CreateStatsResultDirect(
      fbb, self.node_name.c_str(), self.uptime_ms, self.connections, self.sessions,
      self.users_online, self.messages_stored, self.messages_pushed, self.requests,
      self.store_bytes, gossip, &rows, stats.nodes_live);
  return finish(req_id, result);
}

AdminReply AdminDispatcher::online(std::uint32_t req_id, const wire::OnlineRequest& request) {
  std::string_view after = view(request.after());
  if (!after.empty()) {
    if (Error invalid = check_id(after, "after")) return outcome(req_id, invalid);
  }
  std::uint32_t limit =
      request.limit() == 0 ? default_online_limit : std::min(request.limit(), max_online_limit);
  OnlineView page = hooks_.online(after, limit, request.cluster());
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<flatbuffers::String>> users;
  users.reserve(page.users.size());
  for (const std::string& user : page.users)
    users.push_back(fbb.CreateString(user));
  return finish(req_id, wire::CreateOnlineResultDirect(fbb, page.count, &users, page.more,
                                                       page.nodes_answered, page.nodes_live));
}

AdminReply AdminDispatcher::group(std::uint32_t req_id, const wire::GroupInspectRequest& request) {
  std::string_view group_id = view(request.group());
  if (Error invalid = check_id(group_id, "group")) return outcome(req_id, invalid);
  GroupView group;
  if (Error failed = hooks_.inspect_group(group_id, group)) return outcome(req_id, failed);
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<wire::GroupMemberInfo>> members;
  members.reserve(group.members.size());
  for (const GroupMemberView& member : group.members) {
    members.push_back(wire::CreateGroupMemberInfoDirect(
        fbb, member.user.c_str(), static_cast<qim::wire::GroupRole>(member.role), member.online,
        member.joined_seq));
  }
  return finish(req_id, wire::CreateGroupInspectResultDirect(
                            fbb, group.group.c_str(), group.name.c_str(), group.owner.c_str(),
                            group.created_ms, &members));
}

AdminReply AdminDispatcher::show_user(std::uint32_t req_id, const wire::UserShowRequest& request) {
  std::string_view user = view(request.user());
  if (Error invalid = check_id(user, "user")) return outcome(req_id, invalid);
  UserShowView shown;
  if (Error failed = hooks_.show_user(user, shown)) return outcome(req_id, failed);
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<wire::UserDevice>> devices;
  devices.reserve(shown.devices.size());
  for (const DeviceView& device : shown.devices) {
    devices.push_back(wire::CreateUserDeviceDirect(fbb, device.device.c_str(), device.sessions,
                                                   device.token_created_ms,
                                                   device.token_last_used_ms));
  }
  auto groups = fbb.CreateVectorOfStrings(shown.groups);
  auto name = fbb.CreateString(shown.user);
  auto home = fbb.CreateString(shown.home_node);
  auto device_vector = fbb.CreateVector(devices);
  return finish(req_id, wire::CreateUserShowResult(fbb, name, home, shown.partition,
                                                   shown.created_ms, shown.disabled, device_vector,
                                                   shown.sessions, shown.friends, groups));
}

AdminReply AdminDispatcher::list_names(std::uint32_t req_id, const wire::NameListRequest& request) {
  if (request.kind() != wire::NameKind::Users && request.kind() != wire::NameKind::Groups) {
    return error(req_id, errc::invalid_argument, "kind: must be Users or Groups");
  }
  std::string_view prefix = view(request.prefix());
  if (!prefix.empty() && !is_valid_id(prefix)) {
    return error(req_id, errc::invalid_argument,
                 fmt::format("prefix: '{}' is not 1-32 characters of [a-z0-9_.-]",
                             prefix.substr(0, max_id_length + 8)));
  }
  std::string_view after = view(request.after());
  if (!after.empty()) {
    if (Error invalid = check_id(after, "after")) return outcome(req_id, invalid);
  }
  std::uint32_t limit =
      request.limit() == 0 ? default_online_limit : std::min(request.limit(), max_online_limit);
  auto kind = request.kind() == wire::NameKind::Users ? NameKind::users : NameKind::groups;
  NameListView page = hooks_.list_names(kind, prefix, after, limit);
  builder_.reset();
  auto& fbb = builder_.fbb();
  auto names = fbb.CreateVectorOfStrings(page.names);
  return finish(req_id, wire::CreateNameListResult(fbb, request.kind(), names, page.more,
                                                   page.partitions_read, page.partition_count));
}

AdminReply AdminDispatcher::backup(std::uint32_t req_id, const wire::BackupRequest& request) {
  std::string_view directory = view(request.directory());
  if (directory.empty()) return error(req_id, errc::invalid_argument, "directory: missing");
  if (directory.size() > 4096) {
    return error(req_id, errc::invalid_argument, "directory: longer than 4096 bytes");
  }
  BackupView made;
  if (Error failed = hooks_.backup(directory, made)) return outcome(req_id, failed);
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<wire::BackupPartition>> partitions;
  partitions.reserve(made.partitions.size());
  for (const BackupPartitionView& p : made.partitions) {
    partitions.push_back(
        wire::CreateBackupPartition(fbb, p.partition, p.applied_index, p.term, p.leader));
  }
  return finish(req_id, wire::CreateBackupResultDirect(
                            fbb, made.directory.c_str(), made.node_name.c_str(), made.cluster_id,
                            made.created_ms, made.version.c_str(), &partitions));
}

AdminReply AdminDispatcher::partitions(std::uint32_t req_id) {
  PartitionTableView table = hooks_.partitions();
  builder_.reset();
  auto& fbb = builder_.fbb();
  std::vector<flatbuffers::Offset<wire::PartitionRow>> rows;
  rows.reserve(table.rows.size());
  for (const PartitionRowView& row : table.rows)
    rows.push_back(encode_row(fbb, row));
  std::vector<flatbuffers::Offset<wire::NodeShare>> nodes;
  nodes.reserve(table.nodes.size());
  for (const NodeShareView& node : table.nodes) {
    nodes.push_back(wire::CreateNodeShareDirect(fbb, node.node.c_str(), node.replicas, node.leaders,
                                                node.answered));
  }
  return finish(req_id, wire::CreatePartitionsResultDirect(
                            fbb, table.partition_count, table.replicas_wanted, &rows, &nodes,
                            table.under_replicated, table.leaderless, table.nodes_answered,
                            table.nodes_asked));
}

AdminReply AdminDispatcher::where(std::uint32_t req_id, const wire::WhereRequest& request) {
  std::string placement_key, kind;
  if (Error invalid = parse_where_key(view(request.key()), placement_key, kind)) {
    return outcome(req_id, invalid);
  }
  WhereView where = hooks_.where(placement_key);
  builder_.reset();
  auto& fbb = builder_.fbb();
  auto key = fbb.CreateString(view(request.key()));
  auto placement = fbb.CreateString(placement_key);
  auto kind_offset = fbb.CreateString(kind);
  auto row = encode_row(fbb, where.row);
  return finish(req_id,
                wire::CreateWhereResult(fbb, key, placement, kind_offset, where.partition, row));
}

AdminReply AdminDispatcher::outcome(std::uint32_t req_id, const Error& failure) {
  if (failure) return error(req_id, failure.code, failure.message);
  builder_.reset();
  return finish(req_id, wire::CreateAdminOk(builder_.fbb()));
}

AdminReply AdminDispatcher::error(std::uint32_t req_id, errc code, std::string_view message,
                                  AdminReply::After after) {
  auto bytes = builder_.error(req_id, code, message);
  return AdminReply{{bytes.begin(), bytes.end()}, after};
}

template <typename T>
AdminReply AdminDispatcher::finish(std::uint32_t req_id, flatbuffers::Offset<T> body,
                                   AdminReply::After after) {
  auto bytes = builder_.finish(req_id, body);
  return AdminReply{{bytes.begin(), bytes.end()}, after};
}

}  // namespace qim::admin
