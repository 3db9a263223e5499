#pragma once
// Key encodings for every column family (schemas/README.md, "Storage records"). Components
// are joined by one '\0' byte (ids never contain it); seqs and client message ids are 8-byte
// big-endian so key order is numeric order and a conversation's log is one range scan.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qim::service::keys {

inline constexpr char separator = '\0';

void append_be64(std::string& out, std::uint64_t value);
// REQUIRES: bytes.size() == 8.
std::uint64_t read_be64(std::string_view bytes);

std::string account(std::string_view user);
std::string friend_of(std::string_view user, std::string_view other);
std::string friends_prefix(std::string_view user);
std::string conv(std::string_view user, std::string_view conversation);
std::string convs_prefix(std::string_view user);
// The group conversations of a user: convs keys whose conversation starts with "g:".
std::string group_convs_prefix(std::string_view user);
std::string cursor(std::string_view user, std::string_view conversation, std::string_view device);
std::string group(std::string_view group);
std::string member(std::string_view group, std::string_view user);
std::string members_prefix(std::string_view group);
std::string log(std::string_view conversation, std::uint64_t seq);
std::string log_prefix(std::string_view conversation);
std::string dedup(std::string_view conversation, std::string_view sender,
                  std::uint64_t client_msg_id);

// The part of `key` after `prefix` (the last component of a prefixed key).
// REQUIRES: key starts with prefix.
inline std::string_view suffix(std::string_view key, std::string_view prefix) {
  return key.substr(prefix.size());
}

// The seq of a log key of one conversation; nullopt when the suffix is not 8 bytes.
std::optional<std::uint64_t> log_seq(std::string_view key, std::string_view prefix);

}  // namespace qim::service::keys
