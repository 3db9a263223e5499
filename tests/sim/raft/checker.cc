#include "tests/sim/raft/checker.h"

namespace qim::sim::raft {

void Checker::fail(const std::string& what, std::int64_t now_ms) {
  if (failure_) return;
  failure_ = "t=" + std::to_string(now_ms) + "ms: " + what;
}

void Checker::on_committed(GroupId group, consensus::NodeId replica, const consensus::Entry& entry,
                           std::int64_t now_ms) {
  std::vector<Committed>& log = committed_[group];
  if (log.size() <= entry.index) log.resize(entry.index + 1);
  Committed& slot = log[entry.index];
  if (!slot.known) {
    slot = Committed{entry.term, entry.data, true};
    ++committed_count_;
    return;
  }
  if (slot.term != entry.term || slot.data != entry.data) {
    fail("group " + std::to_string(group) + " replica " + std::to_string(replica) +
             " committed index " + std::to_string(entry.index) + " term " +
             std::to_string(entry.term) + ", but term " + std::to_string(slot.term) +
             " was committed there before" + (slot.term == entry.term ? " (other data)" : ""),
         now_ms);
  }
}

void Checker::on_applied_send(GroupId group, consensus::NodeId replica, const SendCommand& command,
                              std::uint64_t seq, std::int64_t now_ms) {
  auto& by_seq = seqs_[command.conversation];
  const auto message = std::make_pair(command.sender, command.client_msg_id);
  if (seq == 0 || seq > by_seq.size() + 1) {
    fail("group " + std::to_string(group) + " replica " + std::to_string(replica) +
             " assigned seq " + std::to_string(seq) + " in conversation " +
             std::to_string(command.conversation) + " whose head was " +
             std::to_string(by_seq.size()) + " (a gap)",
         now_ms);
    return;
  }
  if (seq == by_seq.size() + 1) {
    by_seq.push_back(message);
    return;
  }
  if (by_seq[seq - 1] != message) {
    fail("group " + std::to_string(group) + " replica " + std::to_string(replica) + " gave seq " +
             std::to_string(seq) + " of conversation " + std::to_string(command.conversation) +
             " to (" + std::to_string(command.sender) + ", " +
             std::to_string(command.client_msg_id) + "), elsewhere it went to (" +
             std::to_string(by_seq[seq - 1].first) + ", " + std::to_string(by_seq[seq - 1].second) +
             ")",
         now_ms);
  }
}

void Checker::on_leader(GroupId group, consensus::Term term, consensus::NodeId replica,
                        std::int64_t now_ms) {
  auto [found, inserted] = leaders_.emplace(std::make_pair(group, term), replica);
  if (!inserted && found->second != replica) {
    fail("group " + std::to_string(group) + " has two leaders in term " + std::to_string(term) +
             ": " + std::to_string(found->second) + " and " + std::to_string(replica),
         now_ms);
  }
}

void Checker::on_ack(const SendCommand& command, std::uint64_t seq, std::int64_t now_ms) {
  const auto key = std::make_tuple(command.conversation, command.sender, command.client_msg_id);
  auto [found, inserted] = acks_.emplace(key, Ack{seq, command.body});
  if (!inserted && found->second.seq != seq) {
    fail("message (" + std::to_string(command.sender) + ", " +
             std::to_string(command.client_msg_id) + ") of conversation " +
             std::to_string(command.conversation) + " acknowledged with seq " +
             std::to_string(found->second.seq) + " and later " + std::to_string(seq),
         now_ms);
  }
}

void Checker::check_acknowledged(std::uint32_t conversation, const MessagingState& state,
                                 std::int64_t now_ms) {
  const Conversation* stored = state.find(conversation);
  for (auto it = acks_.lower_bound({conversation, 0, 0});
       it != acks_.end() && std::get<0>(it->first) == conversation; ++it) {
    const auto [conv, sender, id] = it->first;
    const Ack& ack = it->second;
    const std::string who = "acknowledged message (" + std::to_string(sender) + ", " +
                            std::to_string(id) + ") of conversation " +
                            std::to_string(conversation);
    if (stored == nullptr || ack.seq > stored->messages.size()) {
      fail(who + " at seq " + std::to_string(ack.seq) + " is lost", now_ms);
      return;
    }
    const StoredMessage& at_seq = stored->messages[ack.seq - 1];
    if (at_seq.sender != sender || at_seq.client_msg_id != id || at_seq.body != ack.body) {
      fail(who + " is not at its seq " + std::to_string(ack.seq), now_ms);
      return;
    }
  }
  if (stored == nullptr) return;
  // Exactly once: every (sender, client_msg_id) at one seq, and the index agrees.
  if (stored->seq_by_client_id.size() != stored->messages.size()) {
    fail("conversation " + std::to_string(conversation) + " holds a message twice", now_ms);
    return;
  }
  for (std::size_t i = 0; i < stored->messages.size(); ++i) {
    const StoredMessage& message = stored->messages[i];
    auto found = stored->seq_by_client_id.find({message.sender, message.client_msg_id});
    if (found == stored->seq_by_client_id.end() || found->second != i + 1) {
      fail("conversation " + std::to_string(conversation) + " seq index disagrees at " +
               std::to_string(i + 1),
           now_ms);
      return;
    }
  }
}

}  // namespace qim::sim::raft
