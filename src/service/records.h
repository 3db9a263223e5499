#pragma once
// Stored records (schemas/store.fbs) as plain structs, with their FlatBuffers encoding.
// Decoders verify before reading and copy what they keep, so a corrupted record is a false
// return, never a crash. Values read from the store may be unaligned; decoders copy them into
// an aligned buffer first.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "service/types.h"

namespace qim::service {

struct TokenEntry {
  std::array<std::uint8_t, 32> digest{};
  std::string device;
  std::uint64_t created_ms = 0;
  std::uint64_t last_used_ms = 0;
};

struct AccountRecord {
  std::string password_hash;
  std::uint64_t created_ms = 0;
  bool disabled = false;
  std::vector<TokenEntry> tokens;
  std::uint64_t hlc = 0;
};

struct FriendRecord {
  FriendState state = FriendState::none;
  std::uint64_t since_ms = 0;
  std::uint64_t hlc = 0;
};

struct MembershipRecord {
  std::string peer;
  std::uint64_t first_seq = 1;
  std::uint64_t joined_ms = 0;
  std::uint64_t hlc = 0;
};

struct GroupRecord {
  std::string name;
  std::string owner;
  std::uint64_t created_ms = 0;
  std::uint32_t member_count = 0;
  std::uint64_t hlc = 0;
};

struct MemberRecord {
  GroupRole role = GroupRole::member;
  std::uint64_t joined_seq = 1;
  std::uint64_t joined_ms = 0;
  std::uint64_t hlc = 0;
};

struct DedupRecord {
  std::uint64_t seq = 0;
  std::uint64_t server_time_ms = 0;
};

std::string encode(const AccountRecord& record);
std::string encode(const FriendRecord& record);
std::string encode(const MembershipRecord& record);
std::string encode(const GroupRecord& record);
std::string encode(const MemberRecord& record);
std::string encode(const DedupRecord& record);
std::string encode_cursor(std::uint64_t seq);
// A log entry; the conversation is in the key, not the value.
std::string encode_log_entry(const MessageView& message);
inline std::string encode_log_entry(const Message& message) {
  return encode_log_entry(view_of(message));
}
// Where a partition's dedup pruning (or history trim) resumes.
std::string encode_prune_cursor(std::string_view next_key);
// The head of a conversation whose log entries retention deleted.
std::string encode_log_floor(std::uint64_t head_seq);

// Each returns false when `bytes` is not a valid record of that kind.
bool decode(std::string_view bytes, AccountRecord& record);
bool decode(std::string_view bytes, FriendRecord& record);
bool decode(std::string_view bytes, MembershipRecord& record);
bool decode(std::string_view bytes, GroupRecord& record);
bool decode(std::string_view bytes, MemberRecord& record);
bool decode(std::string_view bytes, DedupRecord& record);
bool decode_cursor(std::string_view bytes, std::uint64_t& seq);
// Fills every field of `message` but conversation.
bool decode_log_entry(std::string_view bytes, Message& message);
bool decode_prune_cursor(std::string_view bytes, std::string& next_key);
bool decode_log_floor(std::string_view bytes, std::uint64_t& head_seq);

}  // namespace qim::service
