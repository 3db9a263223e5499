#pragma once
// What peer links know about the cluster: who we are and where the live members listen.
// Implemented by the node over its membership view; tests implement it with a map.
#include <optional>
#include <string>
#include <string_view>

namespace qim::net {

// Called on the peer links' executor only (see PeerLinks); an implementation reading state
// owned by another thread must synchronise itself. Calls must not block.
class PeerDirectory {
 public:
  virtual ~PeerDirectory() = default;
  // This node's member name.
  virtual std::string local_name() const = 0;
  // The advertised peer address ("ip:port") of `node_name` while it may link with us: a live
  // member (alive or suspect), or one that left gracefully (it hands its records over after
  // leaving); nullopt for unknown and dead members.
  virtual std::optional<std::string> peer_address(std::string_view node_name) const = 0;
};

}  // namespace qim::net
