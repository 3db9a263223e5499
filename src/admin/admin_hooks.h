#pragma once
// What the admin dispatcher needs from the node, as plain values: the dispatcher decides and
// encodes, the node (node/node_admin_hooks.h) carries out. Tests can implement this with fakes.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "admin/partition_table.h"
#include "qim/errc.h"

namespace qim::admin {

enum class MemberState : std::uint8_t { alive = 0, suspect = 1, dead = 2, left = 3 };

struct MemberView {
  std::string name;
  std::string gossip_address;
  std::string client_address;
  MemberState state = MemberState::alive;
  std::uint32_t incarnation = 0;
  std::int64_t state_since_ms = 0;  // the node's steady clock
  std::uint64_t time_in_state_ms = 0;
  std::uint64_t restart_epoch = 0;
  bool is_self = false;
  std::uint32_t vnodes = 0;  // its virtual nodes on the ring; 0 when it is not on the ring
};

// One node's replication figures (replica/probe.h), all since start except the first two.
struct ReplicationCountersView {
  std::uint64_t replicas_hosted = 0;
  std::uint64_t leaderships = 0;
  std::uint64_t leader_changes = 0;
  std::uint64_t leaderships_won = 0;
  std::uint64_t snapshots_sent = 0;
  std::uint64_t snapshots_received = 0;
  std::uint64_t proposals = 0;
  std::uint64_t proposals_failed = 0;
};

struct GossipCountersView {
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_unsealable = 0;
  std::uint64_t datagrams_sent = 0;
  std::uint64_t datagrams_send_failed = 0;
  std::uint64_t push_pulls_served = 0;
  std::uint64_t push_pulls_refused = 0;
  std::uint64_t push_pulls_completed = 0;
  std::uint64_t push_pulls_failed = 0;
};

// One node's counters. A node that did not answer has answered == false, `error` saying why
// and zeros elsewhere.
struct NodeStatsView {
  std::string node_name;
  bool is_self = false;
  bool answered = true;
  std::string error;
  std::uint64_t uptime_ms = 0;
  std::uint64_t connections = 0;
  std::uint64_t sessions = 0;
  std::uint64_t users_online = 0;
  std::uint64_t messages_stored = 0;
  std::uint64_t messages_pushed = 0;
  std::uint64_t requests = 0;
  std::uint64_t store_bytes = 0;
  double messages_in_per_s = 0;   // recent growth of messages_stored
  double messages_out_per_s = 0;  // recent growth of messages_pushed
  std::uint64_t peer_queued_frames = 0;
  std::uint64_t peer_queued_bytes = 0;
  std::uint64_t peer_links_connected = 0;
  std::uint64_t peer_frames_dropped = 0;
  std::optional<GossipCountersView> gossip;            // absent: the node does not report them
  std::optional<ReplicationCountersView> replication;  // absent: the node does not report them
};

// Which nodes a stats request asks about.
struct StatsScope {
  bool cluster = false;  // every live member
  std::string node;      // only this live member (overrides `cluster`)
};

struct StatsView {
  NodeStatsView self;                // the answering node
  std::vector<NodeStatsView> nodes;  // the nodes asked, sorted by name
  std::uint32_t nodes_live = 0;      // live members in the answering node's placement
};

struct OnlineView {
  std::uint64_t count = 0;
  std::vector<std::string> users;
  bool more = false;
  std::uint32_t nodes_answered = 1;  // nodes counted
  std::uint32_t nodes_live = 1;      // nodes asked
};

enum class GroupRole : std::uint8_t { member = 0, admin = 1, owner = 2 };

struct GroupMemberView {
  std::string user;
  GroupRole role = GroupRole::member;
  bool online = false;
  std::uint64_t joined_seq = 1;
};

struct GroupView {
  std::string group;
  std::string name;
  std::string owner;
  std::uint64_t created_ms = 0;
  std::vector<GroupMemberView> members;  // sorted by user id
};

struct RingMemberView {
  std::string name;
  std::string client_address;
  double share = 0;  // fraction of the key space, 0..1
  bool is_self = false;
};

struct RingView {
  std::uint64_t version = 0;
  std::uint32_t vnodes_per_member = 0;
  std::vector<RingMemberView> members;
};

struct DeviceView {
  std::string device;
  std::uint32_t sessions = 0;
  std::uint64_t token_created_ms = 0;  // 0: no token
  std::uint64_t token_last_used_ms = 0;
};

// A user as the home of their account sees them (qimctl user show).
struct UserShowView {
  std::string user;
  std::string home_node;
  std::uint32_t partition = 0;
  std::uint64_t created_ms = 0;
  bool disabled = false;
  std::vector<DeviceView> devices;  // sorted by device
  std::uint32_t sessions = 0;
  std::uint32_t friends = 0;
  std::vector<std::string> groups;  // sorted
};

enum class NameKind : std::uint8_t { users = 0, groups = 1 };

// A cluster-wide page of user or group ids.
struct NameListView {
  std::vector<std::string> names;  // sorted, distinct
  bool more = false;
  std::uint32_t partitions_read = 0;
  std::uint32_t partition_count = 0;
};

struct BackupPartitionView {
  std::uint32_t partition = 0;
  std::uint64_t applied_index = 0;
  std::uint64_t term = 0;
  bool leader = false;
};

// A backup written by the node (qimctl backup).
struct BackupView {
  std::string directory;
  std::string node_name;
  std::uint64_t cluster_id = 0;
  std::uint64_t created_ms = 0;
  std::string version;
  std::vector<BackupPartitionView> partitions;  // by partition
};

// Where a key lives (qimctl where): its placement key, partition and that partition's row.
struct WhereView {
  std::string placement_key;  // the user id, "d:<a>:<b>" or "g:<gid>"
  std::uint32_t partition = 0;
  PartitionRowView row;
};

// Implemented by the node. Every method may be called from any thread (the listener runs them
// off its own executor, since some hash passwords); each returns promptly apart from password
// hashing and asking other nodes (bounded by a deadline). Errors carry a message for the
// operator that names the offending field.
class AdminHooks {
 public:
  virtual ~AdminHooks() = default;

  virtual std::string node_name() const = 0;
  virtual std::vector<MemberView> members() = 0;
  virtual RingView ring() = 0;
  // NotFound when scope.node is not a live member.
  virtual Error stats(const StatsScope& scope, StatsView& view) = 0;
  // This node's online users, or with `cluster` every live member's (merged).
  // REQUIRES: 1 <= limit <= max_online_limit.
  virtual OnlineView online(std::string_view after, std::uint32_t limit, bool cluster) = 0;
  // User and group operations are carried out at the key's home node, wherever asked.
  virtual Error create_user(std::string_view user, std::string_view password) = 0;
  virtual Error set_user_disabled(std::string_view user, bool disabled) = 0;
  // Every device, or only `device` when it is not empty.
  virtual Error kick_user(std::string_view user, std::string_view device) = 0;
  virtual Error show_user(std::string_view user, UserShowView& view) = 0;
  // The account and every record of the user, across the partitions that hold them.
  virtual Error delete_user(std::string_view user) = 0;
  virtual Error dissolve_group(std::string_view group) = 0;
  // BLOCKING (copies the store's files): a checkpoint of this node's store in `directory`.
  virtual Error backup(std::string_view directory, BackupView& view) = 0;
  // REQUIRES: 1 <= limit <= max_online_limit; `prefix` and `after` are empty or valid ids.
  virtual NameListView list_names(NameKind kind, std::string_view prefix, std::string_view after,
                                  std::uint32_t limit) = 0;
  virtual Error reset_password(std::string_view user, std::string_view password) = 0;
  virtual Error inspect_group(std::string_view group, GroupView& view) = 0;
  // Every partition's replicas, gathered from every live member and merged.
  virtual PartitionTableView partitions() = 0;
  // `placement_key` is well formed (a user id or a conversation id).
  virtual WhereView where(std::string_view placement_key) = 0;
  // Starts the node's graceful leave and shutdown (the SIGTERM path) and returns at once.
  virtual void request_leave() = 0;
};

}  // namespace qim::admin
