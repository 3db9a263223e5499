#pragma once
// Placement: an immutable snapshot of who serves which key, as one node sees the cluster at
// one moment (DESIGN §7: leaders are homes). Every key belongs to a partition (partitions.h);
// each partition's Raft leader is the home of its keys: it serves their requests, assigns seqs,
// pushes, and holds the sessions of the users in it. Nodes learn leaders from their own groups
// and from the others' hints; a stale hint costs a redirect or a retry, never a wrong answer
// (the Raft group decides who may write, not this view).
//
// Immutable once built: the node swaps a new one in on each membership or leadership change
// and readers keep the one they started with, so one request sees one consistent placement.
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "route/partitions.h"

namespace qim::route {

// One member as routing needs it.
struct NodeInfo {
  std::string name;
  std::string client_host;  // where clients are redirected to
  std::uint16_t client_port = 0;
  std::string peer_address;  // "host:port" of its peer link listener
  // False for a member SWIM considers dead, and for the stand-in home of a partition whose
  // leader is not known (name empty): requests for its keys get Unavailable.
  bool up = true;
  std::uint64_t replica_id = 0;  // its Raft replica id (0: not known)
  std::uint16_t ws_port = 0;     // its WebSocket port on client_host (0: none known)

  friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

class Placement {
 public:
  // Nothing known yet: no members but this node, no partition leader.
  static Placement empty(NodeInfo self, Partitions partitions);

  // REQUIRES: `members` holds distinct, non-empty names; `leaders` has one entry per
  // partition: the index of its leader in `members`, or -1 when none is known.
  Placement(std::string self_name, std::vector<NodeInfo> members, Partitions partitions,
            std::vector<std::int32_t> leaders, std::uint64_t version);

  const std::string& self_name() const { return self_name_; }
  // Grows with every placement a node builds; lets caches tell an old placement from a new one.
  std::uint64_t version() const { return version_; }
  const Partitions& partitions() const { return partitions_; }
  // Sorted by name.
  const std::vector<NodeInfo>& members() const { return members_; }

  // The home of a user id or conversation id: its partition's leader, or a stand-in with an
  // empty name and up == false while no leader is known.
  const NodeInfo& home_of(std::string_view key) const {
    return leader_or_unknown(partitions_.of(key));
  }
  bool is_local(std::string_view key) const { return home_of(key).name == self_name_; }
  // nullptr when no leader is known. REQUIRES: partition < partitions().count().
  const NodeInfo* leader_of(PartitionId partition) const;
  // nullptr when `name` is not a member of this placement.
  const NodeInfo* find(std::string_view name) const;
  // How many partitions `name` leads.
  std::size_t leaderships(std::string_view name) const;
  // Partitions with a known leader.
  std::size_t led_partitions() const;

 private:
  const NodeInfo& leader_or_unknown(PartitionId partition) const;

  std::string self_name_;
  std::uint64_t version_ = 0;
  std::vector<NodeInfo> members_;  // sorted by name
  Partitions partitions_;
  std::vector<std::int32_t> leaders_;                   // by partition: index into members_, or -1
  std::unordered_map<std::string, std::size_t> index_;  // name -> members_ index
  NodeInfo unknown_{"", "", 0, "", false, 0};
};

}  // namespace qim::route
