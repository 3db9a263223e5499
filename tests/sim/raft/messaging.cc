#include "tests/sim/raft/messaging.h"

namespace qim::sim::raft {
namespace {

void put_u64(std::string& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

bool get_u64(std::string_view& in, std::uint64_t& value) {
  if (in.size() < 8) return false;
  value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in[i])) << (8 * i);
  }
  in.remove_prefix(8);
  return true;
}

constexpr char kSendTag = 'S';

}  // namespace

std::string encode(const SendCommand& command) {
  std::string out;
  out.reserve(1 + 3 * 8 + command.body.size());
  out.push_back(kSendTag);
  put_u64(out, command.conversation);
  put_u64(out, command.sender);
  put_u64(out, command.client_msg_id);
  out += command.body;
  return out;
}

bool decode(std::string_view bytes, SendCommand& command) {
  if (bytes.empty() || bytes[0] != kSendTag) return false;
  bytes.remove_prefix(1);
  std::uint64_t conversation = 0;
  std::uint64_t sender = 0;
  if (!get_u64(bytes, conversation) || !get_u64(bytes, sender) ||
      !get_u64(bytes, command.client_msg_id)) {
    return false;
  }
  command.conversation = static_cast<std::uint32_t>(conversation);
  command.sender = static_cast<std::uint32_t>(sender);
  command.body.assign(bytes);
  return true;
}

std::uint64_t MessagingState::apply(const SendCommand& command) {
  Conversation& conversation = conversations_[command.conversation];
  const auto key = std::make_pair(command.sender, command.client_msg_id);
  auto found = conversation.seq_by_client_id.find(key);
  if (found != conversation.seq_by_client_id.end()) return found->second;
  conversation.messages.push_back(
      StoredMessage{command.sender, command.client_msg_id, command.body});
  const std::uint64_t seq = conversation.messages.size();
  conversation.seq_by_client_id.emplace(key, seq);
  return seq;
}

const Conversation* MessagingState::find(std::uint32_t conversation) const {
  auto found = conversations_.find(conversation);
  return found == conversations_.end() ? nullptr : &found->second;
}

std::size_t MessagingState::message_count() const {
  std::size_t count = 0;
  for (const auto& [id, conversation] : conversations_)
    count += conversation.messages.size();
  return count;
}

}  // namespace qim::sim::raft
