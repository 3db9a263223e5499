#pragma once
// Raft messages on the peer links (schemas/peer.fbs, "Replication"): what one node sends
// another in one ready cycle, as one RaftBatch, and back.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "proto/peer_frame.h"
#include "replica/raft_records.h"

namespace qim::replica {

struct AddressedMessage {
  PartitionId partition = 0;
  raft::Message message;
};

struct LeaderHint {
  PartitionId partition = 0;
  raft::Term term = 0;
  raft::NodeId leader = 0;

  friend bool operator==(const LeaderHint&, const LeaderHint&) = default;
};

struct RemovedNotice {
  PartitionId partition = 0;
  raft::Term term = 0;
  raft::NodeId replica = 0;

  friend bool operator==(const RemovedNotice&, const RemovedNotice&) = default;
};

struct RaftBatchContents {
  std::vector<AddressedMessage> messages;
  std::vector<LeaderHint> hints;
  std::vector<RemovedNotice> removed;

  bool empty() const { return messages.empty() && hints.empty() && removed.empty(); }
};

// A one-way RaftBatch envelope payload (req_id and kind are stamped by the link).
std::vector<std::uint8_t> encode_raft_batch(const RaftBatchContents& contents,
                                            proto::PeerFrameBuilder& builder);

// The contents of a verified RaftBatch; false (with `error`) when a field is out of range:
// a partition >= partitions, an unknown message type or entry kind. Nothing from the wire is
// trusted beyond the verifier's checks.
bool decode_raft_batch(const peer_wire::RaftBatch& batch, std::uint32_t partitions,
                       RaftBatchContents& contents, std::string& error);

// Message type mapping, shared with the snapshot chunks.
peer_wire::RaftMessageType wire_type(raft::MessageType type);
bool core_type(peer_wire::RaftMessageType type, raft::MessageType& out);

}  // namespace qim::replica
