#pragma once
// Member identity, state and the precedence order of updates about a member.
#include <cstdint>
#include <string>

namespace qim::cluster::swim {

enum class MemberState : std::uint8_t { alive = 0, suspect = 1, dead = 2, left = 3 };

const char* to_string(MemberState state);

inline bool is_live(MemberState state) {
  return state == MemberState::alive || state == MemberState::suspect;
}

// What a member advertises besides its gossip address. Changes are gossiped as alive messages
// with a higher incarnation.
struct NodeMeta {
  std::string client_address;
  std::string peer_address;
  std::uint16_t protocol_version = 3;
  // Replication (version 2 and later; zero/false from a version-1 member): the member's Raft
  // replica id (random per data directory), the cluster it belongs to (random, chosen when
  // the cluster was created; 0 while it has not joined one yet), the cluster's partition count,
  // and whether it is draining (leaving gracefully: its replicas move away first).
  std::uint64_t replica_id = 0;
  std::uint64_t cluster_id = 0;
  std::uint32_t partitions = 0;
  bool draining = false;
  // Version 3 and later (0 from older members, or with no --ws-listen): the port of its
  // WebSocket listener, on the client address's host. Browsers are redirected there.
  std::uint16_t ws_port = 0;

  friend bool operator==(const NodeMeta&, const NodeMeta&) = default;
};

struct Member {
  std::string name;
  std::string address;  // "host:port" of the gossip (UDP) endpoint.
  NodeMeta meta;
  // Restart identity: a process restarting with the same name uses a larger epoch and is a new
  // incarnation of the member, even if an older epoch was declared dead.
  std::uint64_t restart_epoch = 0;
  std::uint32_t incarnation = 0;
  MemberState state = MemberState::alive;

  friend bool operator==(const Member&, const Member&) = default;
};

// The version of a piece of news about a member.
struct Version {
  std::uint64_t restart_epoch = 0;
  std::uint32_t incarnation = 0;
  MemberState state = MemberState::alive;
};

// The precedence order of updates. Within one restart epoch:
//   alive(N) < suspect(N) < alive(N+1) < suspect(N+1) < dead(M) == left(M), for M >= N
// dead and left are terminal for the epoch (tombstones), so stale gossip cannot revive a member.
// As in memberlist, a dead(M) older than the member's current incarnation N is stale (the member
// refuted after the accuser's timer started) and is ignored. Any update of a larger epoch
// supersedes everything of a smaller one: a restart is a new life.
inline bool supersedes(const Version& update, const Version& current) {
  if (update.restart_epoch != current.restart_epoch) {
    return update.restart_epoch > current.restart_epoch;
  }
  if (!is_live(current.state)) return false;
  if (!is_live(update.state)) return update.incarnation >= current.incarnation;
  if (update.incarnation != current.incarnation) return update.incarnation > current.incarnation;
  return update.state == MemberState::suspect && current.state == MemberState::alive;
}

inline Version version_of(const Member& member) {
  return Version{member.restart_epoch, member.incarnation, member.state};
}

}  // namespace qim::cluster::swim
