#pragma once
// Compact little-endian binary encoding of gossip datagrams and push-pull states.
//
// Datagram:  'S' version(u8=1) count(u8) then `count` times: type(u8) length(u16) body[length]
// Strings:   length(u8) bytes; names at most kMaxNameBytes, addresses at most kMaxAddressBytes.
// State:     'P' version(u8=1) join(u8) count(u32) then `count` member records.
//
// The decoders trust no length, count or enum read from the wire: every read is bounds-checked
// and malformed input yields an error value, never a crash or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "cluster/swim/messages.h"

namespace qim::cluster::swim {

enum class DecodeError : std::uint8_t {
  none = 0,
  truncated,
  bad_magic,
  bad_version,
  unknown_type,
  bad_length,
  bad_value,
  too_many,
};

const char* to_string(DecodeError error);

inline constexpr std::size_t kDatagramHeaderBytes = 3;
inline constexpr std::size_t kMaxMessagesPerDatagram = 255;

// Encodes one message as type + length + body. Strings longer than their limit are truncated
// (callers validate names and addresses up front, see Membership's constructor).
std::vector<std::uint8_t> encode_message(const Message& message);

// Builds a datagram that never exceeds max_bytes: the hard limit lives here, not in callers.
class DatagramBuilder {
 public:
  explicit DatagramBuilder(std::size_t max_bytes);

  // Appends an encoded message (from encode_message). Returns false, leaving the datagram
  // unchanged, if it would exceed the byte limit or the message count limit.
  bool append(std::span<const std::uint8_t> encoded_message);

  std::size_t size_bytes() const { return bytes_.size(); }
  std::size_t remaining_bytes() const { return max_bytes_ - bytes_.size(); }
  std::size_t message_count() const { return bytes_[2]; }
  std::vector<std::uint8_t> finish() && { return std::move(bytes_); }

 private:
  std::size_t max_bytes_;
  std::vector<std::uint8_t> bytes_;
};

// Decodes a datagram into `messages` (appended). On error `messages` may hold the messages
// decoded before the bad one; callers should drop the whole datagram.
DecodeError decode_datagram(std::span<const std::uint8_t> bytes, std::vector<Message>& messages);

std::vector<std::uint8_t> encode_state(const PushPullState& state);
// REQUIRES: max_members > 0. Rejects states with more than max_members records.
DecodeError decode_state(std::span<const std::uint8_t> bytes, std::size_t max_members,
                         PushPullState& state);

}  // namespace qim::cluster::swim
