#include "service/keys.h"

namespace qim::service::keys {
namespace {

std::string join(std::string_view a, std::string_view b) {
  std::string key;
  key.reserve(a.size() + 1 + b.size());
  key.append(a).push_back(separator);
  key.append(b);
  return key;
}

}  // namespace

void append_be64(std::string& out, std::uint64_t value) {
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(value >> shift));
}

std::uint64_t read_be64(std::string_view bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value = value << 8 | static_cast<std::uint8_t>(bytes[i]);
  return value;
}

std::string account(std::string_view user) {
  return std::string(user);
}

std::string friend_of(std::string_view user, std::string_view other) {
  return join(user, other);
}

std::string friends_prefix(std::string_view user) {
  return join(user, {});
}

std::string conv(std::string_view user, std::string_view conversation) {
  return join(user, conversation);
}

std::string convs_prefix(std::string_view user) {
  return join(user, {});
}

std::string group_convs_prefix(std::string_view user) {
  return join(user, "g:");
}

std::string cursor(std::string_view user, std::string_view conversation, std::string_view device) {
  std::string key = join(user, conversation);
  key.push_back(separator);
  key.append(device);
  return key;
}

std::string group(std::string_view group) {
  return std::string(group);
}

std::string member(std::string_view group, std::string_view user) {
  return join(group, user);
}

std::string members_prefix(std::string_view group) {
  return join(group, {});
}

std::string log(std::string_view conversation, std::uint64_t seq) {
  std::string key;
  key.reserve(conversation.size() + 9);
  key.append(conversation).push_back(separator);
  append_be64(key, seq);
  return key;
}

std::string log_prefix(std::string_view conversation) {
  return join(conversation, {});
}

std::string dedup(std::string_view conversation, std::string_view sender,
                  std::uint64_t client_msg_id) {
  std::string key;
  key.reserve(conversation.size() + sender.size() + 10);
  key.append(conversation).push_back(separator);
  key.append(sender).push_back(separator);
  append_be64(key, client_msg_id);
  return key;
}

std::optional<std::uint64_t> log_seq(std::string_view key, std::string_view prefix) {
  if (key.size() != prefix.size() + 8) return std::nullopt;
  return read_be64(key.substr(prefix.size()));
}

}  // namespace qim::service::keys
