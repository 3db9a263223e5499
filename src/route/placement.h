#pragma once
// Placement: an immutable snapshot of where every key lives, as one node sees the cluster at
// one moment. Built from the members that have not left (alive or suspect: a suspect may still
// be serving, and moving its keys on every suspicion would churn; dead: its keys wait for it,
// see NodeInfo::up) and the ring over their names.
//
// Homes: a user's records live at owner(user id); a conversation's at owner(conversation id).
// User ids ([a-z0-9_.-]) never contain ':' and conversation ids always do ("d:a:b", "g:id"),
// so the two kinds of key cannot collide on the ring.
//
// Immutable once built: the node swaps a new one in on each membership change and readers
// keep the one they started with, so one request sees one consistent placement.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/ring/ring.h"

namespace qim::route {

// One live member as routing needs it.
struct NodeInfo {
  std::string name;
  std::string client_host;  // where clients are redirected to
  std::uint16_t client_port = 0;
  std::string peer_address;  // "host:port" of its peer link listener
  // False for a member SWIM has declared dead: it keeps its place on the ring (its keys do not
  // move to nodes that do not have their records), and requests for its keys are refused
  // (Unavailable) until it comes back or its tombstone is reaped.
  bool up = true;

  friend bool operator==(const NodeInfo&, const NodeInfo&) = default;
};

class Placement {
 public:
  // A placement with only this node in it: every key is local (a one-node cluster, or a node
  // that has not heard of any other member yet).
  static Placement solo(NodeInfo self, cluster::RingOptions ring_options = {});

  // REQUIRES: `members` holds distinct, non-empty names. It includes `self_name` except on a
  // node that is leaving the cluster, which routes every key elsewhere.
  Placement(std::string self_name, std::vector<NodeInfo> members, cluster::RingOptions ring_options,
            std::uint64_t version);

  const std::string& self_name() const { return self_name_; }
  // Grows with every placement a node builds; lets caches tell an old placement from a new one.
  std::uint64_t version() const { return version_; }
  const cluster::Ring& ring() const { return ring_; }
  const std::vector<NodeInfo>& members() const { return members_; }

  // The home of a user id or conversation id.
  const NodeInfo& home_of(std::string_view key) const;
  bool is_local(std::string_view key) const { return ring_.owner(key) == self_name_; }
  // nullptr when `name` is not a live member of this placement.
  const NodeInfo* find(std::string_view name) const;

  // The fraction of the key space `name` owns (0 when it is not a member).
  double share_of(std::string_view name) const;

  // True when both place every key on the same node with the same addresses.
  bool same_layout(const Placement& other) const;

 private:
  std::string self_name_;
  std::uint64_t version_ = 0;
  std::vector<NodeInfo> members_;  // sorted by name, indexed like ring_.members()
  cluster::Ring ring_;
  std::unordered_map<std::string, std::size_t> index_;  // name -> members_ index
};

}  // namespace qim::route
