#pragma once
// The messaging state machine the simulated groups replicate: the command the real service
// will log for a send, deduplicated on (sender, client_msg_id) per conversation, its seq
// assigned at apply as the conversation's head + 1. Deterministic, copyable (snapshots).
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace qim::sim::raft {

struct SendCommand {
  std::uint32_t conversation = 0;
  std::uint32_t sender = 0;
  std::uint64_t client_msg_id = 0;
  std::string body;
};

std::string encode(const SendCommand& command);
bool decode(std::string_view bytes, SendCommand& command);

struct StoredMessage {
  std::uint32_t sender = 0;
  std::uint64_t client_msg_id = 0;
  std::string body;

  friend bool operator==(const StoredMessage&, const StoredMessage&) = default;
};

struct Conversation {
  // messages[seq - 1]: seqs are dense from 1.
  std::vector<StoredMessage> messages;
  std::map<std::pair<std::uint32_t, std::uint64_t>, std::uint64_t> seq_by_client_id;

  friend bool operator==(const Conversation&, const Conversation&) = default;
};

class MessagingState {
 public:
  // Applies a send and returns its seq; a retry of a (sender, client_msg_id) already applied
  // returns the seq it got the first time and changes nothing.
  std::uint64_t apply(const SendCommand& command);

  const Conversation* find(std::uint32_t conversation) const;
  const std::map<std::uint32_t, Conversation>& conversations() const { return conversations_; }
  std::size_t message_count() const;

  friend bool operator==(const MessagingState&, const MessagingState&) = default;

 private:
  std::map<std::uint32_t, Conversation> conversations_;
};

}  // namespace qim::sim::raft
