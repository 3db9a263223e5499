#pragma once
// Identifiers shared by the server, the client library and the tools.
#include <optional>
#include <string>
#include <string_view>

namespace qim {

inline constexpr std::size_t max_id_length = 32;
inline constexpr std::size_t max_device_length = 64;

// User and group ids: 1-32 characters from [a-z0-9_.-].
bool is_valid_id(std::string_view id) noexcept;
// Device ids: 1-64 printable ASCII characters without spaces or ':'.
bool is_valid_device(std::string_view device) noexcept;

// Conversation ids: "d:<a>:<b>" with a < b, or "g:<group>".
std::string direct_conversation(std::string_view a, std::string_view b);
std::string group_conversation(std::string_view group);

struct ConversationRef {
  enum class Kind { direct, group } kind;
  std::string first;   // direct: the smaller user id; group: the group id
  std::string second;  // direct: the larger user id; group: empty
};
// Parses and validates a conversation id; nullopt when it is not well formed.
std::optional<ConversationRef> parse_conversation(std::string_view conversation);

}  // namespace qim
