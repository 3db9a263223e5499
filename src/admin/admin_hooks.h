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
  virtual Error kick_user(std::string_view user) = 0;
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
