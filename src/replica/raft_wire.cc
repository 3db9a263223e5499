#include "replica/raft_wire.h"

namespace qim::replica {

peer_wire::RaftMessageType wire_type(raft::MessageType type) {
  using W = peer_wire::RaftMessageType;
  using M = raft::MessageType;
  switch (type) {
    case M::pre_vote:
      return W::PreVote;
    case M::pre_vote_response:
      return W::PreVoteResponse;
    case M::vote:
      return W::Vote;
    case M::vote_response:
      return W::VoteResponse;
    case M::append:
      return W::Append;
    case M::append_response:
      return W::AppendResponse;
    case M::heartbeat:
      return W::Heartbeat;
    case M::heartbeat_response:
      return W::HeartbeatResponse;
    case M::snapshot:
      return W::Snapshot;
    case M::timeout_now:
      return W::TimeoutNow;
  }
  return W::Heartbeat;
}

bool core_type(peer_wire::RaftMessageType type, raft::MessageType& out) {
  using W = peer_wire::RaftMessageType;
  using M = raft::MessageType;
  switch (type) {
    case W::PreVote:
      out = M::pre_vote;
      return true;
    case W::PreVoteResponse:
      out = M::pre_vote_response;
      return true;
    case W::Vote:
      out = M::vote;
      return true;
    case W::VoteResponse:
      out = M::vote_response;
      return true;
    case W::Append:
      out = M::append;
      return true;
    case W::AppendResponse:
      out = M::append_response;
      return true;
    case W::Heartbeat:
      out = M::heartbeat;
      return true;
    case W::HeartbeatResponse:
      out = M::heartbeat_response;
      return true;
    case W::Snapshot:
      out = M::snapshot;
      return true;
    case W::TimeoutNow:
      out = M::timeout_now;
      return true;
  }
  return false;
}

std::vector<std::uint8_t> encode_raft_batch(const RaftBatchContents& contents,
                                            proto::PeerFrameBuilder& builder) {
  builder.reset();
  auto& fbb = builder.fbb();
  std::vector<flatbuffers::Offset<peer_wire::RaftMessage>> messages;
  messages.reserve(contents.messages.size());
  std::vector<flatbuffers::Offset<peer_wire::RaftEntry>> entries;
  for (const AddressedMessage& addressed : contents.messages) {
    const raft::Message& message = addressed.message;
    entries.clear();
    for (const raft::Entry& entry : message.entries) {
      auto data = fbb.CreateVector(reinterpret_cast<const std::uint8_t*>(entry.data.data()),
                                   entry.data.size());
      entries.push_back(peer_wire::CreateRaftEntry(fbb, entry.term, entry.index,
                                                   static_cast<std::uint8_t>(entry.kind), data));
    }
    auto entry_vector = entries.empty() ? 0 : fbb.CreateVector(entries);
    flatbuffers::Offset<flatbuffers::Vector<std::uint64_t>> voters = 0, learners = 0;
    if (message.type == raft::MessageType::snapshot) {
      voters = fbb.CreateVector(message.snapshot.config.voters);
      learners = fbb.CreateVector(message.snapshot.config.learners);
    }
    messages.push_back(peer_wire::CreateRaftMessage(
        fbb, addressed.partition, wire_type(message.type), message.from, message.to, message.term,
        message.log_term, message.index, message.commit, entry_vector, message.reject,
        message.reject_hint, message.reject_term, message.snapshot.index, message.snapshot.term,
        voters, learners, message.context));
  }
  std::vector<flatbuffers::Offset<peer_wire::LeaderHint>> hints;
  for (const LeaderHint& hint : contents.hints) {
    hints.push_back(peer_wire::CreateLeaderHint(fbb, hint.partition, hint.term, hint.leader));
  }
  std::vector<flatbuffers::Offset<peer_wire::ReplicaRemoved>> removed;
  for (const RemovedNotice& notice : contents.removed) {
    removed.push_back(
        peer_wire::CreateReplicaRemoved(fbb, notice.partition, notice.term, notice.replica));
  }
  auto batch = peer_wire::CreateRaftBatch(fbb, messages.empty() ? 0 : fbb.CreateVector(messages),
                                          hints.empty() ? 0 : fbb.CreateVector(hints),
                                          removed.empty() ? 0 : fbb.CreateVector(removed));
  return builder.finish_owned(0, peer_wire::PeerKind::Oneway, batch);
}

namespace {

std::vector<raft::NodeId> ids(const flatbuffers::Vector<std::uint64_t>* wire) {
  if (wire == nullptr) return {};
  return {wire->begin(), wire->end()};
}

}  // namespace

bool decode_raft_batch(const peer_wire::RaftBatch& batch, std::uint32_t partitions,
                       RaftBatchContents& contents, std::string& error) {
  contents = {};
  if (batch.messages() != nullptr) {
    contents.messages.reserve(batch.messages()->size());
    for (const peer_wire::RaftMessage* wire : *batch.messages()) {
      if (wire == nullptr) continue;
      if (wire->partition() >= partitions) {
        error = "raft message for partition " + std::to_string(wire->partition()) +
                " of a cluster with " + std::to_string(partitions);
        return false;
      }
      AddressedMessage& addressed = contents.messages.emplace_back();
      addressed.partition = wire->partition();
      raft::Message& message = addressed.message;
      if (!core_type(wire->type(), message.type)) {
        error = "unknown raft message type";
        return false;
      }
      message.from = wire->from();
      message.to = wire->to();
      message.term = wire->term();
      message.log_term = wire->log_term();
      message.index = wire->index();
      message.commit = wire->commit();
      message.reject = wire->reject();
      message.reject_hint = wire->reject_hint();
      message.reject_term = wire->reject_term();
      message.context = wire->context();
      message.snapshot.index = wire->snapshot_index();
      message.snapshot.term = wire->snapshot_term();
      message.snapshot.config.voters = ids(wire->snapshot_voters());
      message.snapshot.config.learners = ids(wire->snapshot_learners());
      if (wire->entries() != nullptr) {
        message.entries.reserve(wire->entries()->size());
        for (const peer_wire::RaftEntry* entry : *wire->entries()) {
          if (entry == nullptr || entry->kind() > 1) {
            error = "malformed raft entry";
            return false;
          }
          raft::Entry& out = message.entries.emplace_back();
          out.term = entry->term();
          out.index = entry->index();
          out.kind = static_cast<raft::EntryKind>(entry->kind());
          if (entry->data() != nullptr) {
            out.data.assign(reinterpret_cast<const char*>(entry->data()->data()),
                            entry->data()->size());
          }
        }
      }
    }
  }
  if (batch.hints() != nullptr) {
    for (const peer_wire::LeaderHint* hint : *batch.hints()) {
      if (hint == nullptr || hint->partition() >= partitions) continue;
      contents.hints.push_back({hint->partition(), hint->term(), hint->leader()});
    }
  }
  if (batch.removed() != nullptr) {
    for (const peer_wire::ReplicaRemoved* notice : *batch.removed()) {
      if (notice == nullptr || notice->partition() >= partitions) continue;
      contents.removed.push_back({notice->partition(), notice->term(), notice->replica()});
    }
  }
  return true;
}

}  // namespace qim::replica
