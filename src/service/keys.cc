#include "service/keys.h"

#include <cassert>

#include "qim/ids.h"

namespace qim::service {
namespace keys {

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

std::string partition_prefix(PartitionId partition) {
  assert(partition < 65536);
  std::string prefix(partition_prefix_bytes, '\0');
  prefix[0] = static_cast<char>(partition >> 8);
  prefix[1] = static_cast<char>(partition & 0xff);
  return prefix;
}

std::optional<PartitionId> partition_of_key(std::string_view key) {
  if (key.size() < partition_prefix_bytes) return std::nullopt;
  return static_cast<PartitionId>(static_cast<std::uint8_t>(key[0]) << 8 |
                                  static_cast<std::uint8_t>(key[1]));
}

std::optional<std::uint64_t> log_seq(std::string_view key, std::string_view prefix) {
  if (key.size() != prefix.size() + 8) return std::nullopt;
  return read_be64(key.substr(prefix.size()));
}

}  // namespace keys

namespace {

void add_prefix(std::string& key, PartitionId partition) {
  key.push_back(static_cast<char>(partition >> 8));
  key.push_back(static_cast<char>(partition & 0xff));
}

std::string in_partition(PartitionId partition, std::string_view user, bool separated,
                         std::string_view tail = {}) {
  std::string key;
  key.reserve(keys::partition_prefix_bytes + user.size() + 1 + tail.size());
  add_prefix(key, partition);
  key.append(user);
  if (separated) key.push_back(keys::separator);
  key.append(tail);
  return key;
}

}  // namespace

std::string Keys::start(std::string_view placement_key, std::string_view first,
                        std::size_t extra) const {
  std::string key;
  key.reserve(keys::partition_prefix_bytes + first.size() + extra);
  add_prefix(key, partition_of(placement_key));
  key.append(first);
  return key;
}

std::string Keys::account(std::string_view user) const {
  return start(user, user, 0);
}

std::string Keys::cursor(std::string_view user, std::string_view conversation,
                         std::string_view device) const {
  std::string key = start(user, user, 2 + conversation.size() + device.size());
  key.push_back(keys::separator);
  key.append(conversation).push_back(keys::separator);
  key.append(device);
  return key;
}

std::string Keys::friend_of(std::string_view user, std::string_view other) const {
  std::string key = start(direct_conversation(user, other), user, 1 + other.size());
  key.push_back(keys::separator);
  key.append(other);
  return key;
}

std::string Keys::cursors_prefix(std::string_view user) const {
  std::string key = start(user, user, 1);
  key.push_back(keys::separator);
  return key;
}

std::string Keys::friends_prefix(PartitionId partition, std::string_view user) const {
  return in_partition(partition, user, true);
}

std::string Keys::conv(std::string_view user, std::string_view conversation) const {
  std::string key = start(conversation, user, 1 + conversation.size());
  key.push_back(keys::separator);
  key.append(conversation);
  return key;
}

std::string Keys::convs_prefix(PartitionId partition, std::string_view user) const {
  return in_partition(partition, user, true);
}

std::string Keys::group_convs_prefix(PartitionId partition, std::string_view user) const {
  return in_partition(partition, user, true, "g:");
}

std::string Keys::group(std::string_view group) const {
  return start(group_conversation(group), group, 0);
}

std::string Keys::member(std::string_view group, std::string_view user) const {
  std::string key = start(group_conversation(group), group, 1 + user.size());
  key.push_back(keys::separator);
  key.append(user);
  return key;
}

std::string Keys::members_prefix(std::string_view group) const {
  std::string key = start(group_conversation(group), group, 1);
  key.push_back(keys::separator);
  return key;
}

std::string Keys::log(std::string_view conversation, std::uint64_t seq) const {
  std::string key = start(conversation, conversation, 9);
  key.push_back(keys::separator);
  keys::append_be64(key, seq);
  return key;
}

std::string Keys::log_prefix(std::string_view conversation) const {
  std::string key = start(conversation, conversation, 1);
  key.push_back(keys::separator);
  return key;
}

std::string Keys::dedup(std::string_view conversation, std::string_view sender,
                        std::uint64_t client_msg_id) const {
  std::string key = start(conversation, conversation, sender.size() + 10);
  key.push_back(keys::separator);
  key.append(sender).push_back(keys::separator);
  keys::append_be64(key, client_msg_id);
  return key;
}

}  // namespace qim::service
