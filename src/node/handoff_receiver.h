#pragma once
// The receiving side of a handoff (node/rebalancer.h is the sending side): writes the records
// another node hands over, durably, before acknowledging them.
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/log.h"
#include "qim/schemas/peer_generated.h"
#include "store/kv.h"

namespace qim::node {

// Owned by main; called from the peer protocol (node/cluster_peers.h).
class HandoffReceiver {
 public:
  HandoffReceiver(store::Kv& kv, core::Logger& logger) : kv_(kv), logger_(logger) {}

  // Writes the records of `handoff` and returns the encoded reply (HandoffAck or PeerError).
  std::vector<std::uint8_t> accept(std::string_view from_node, const peer_wire::Handoff& handoff);

 private:
  store::Kv& kv_;
  core::Logger& logger_;
};

}  // namespace qim::node
