#pragma once
// The body of every benchmark message: who sent it, to whom, its per-sender sequence number
// and when it was (meant to be) sent, on the generator's steady clock. The receiver measures
// latency and checks loss, duplication, order and routing from these fields alone.
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace qim::bench {

inline constexpr std::uint32_t body_magic = 0x71626d31;  // "qbm1"
inline constexpr std::size_t body_header_bytes = 32;
inline constexpr std::size_t default_body_bytes = 64;

struct MessageBody {
  std::uint32_t sender = 0;  // index of the sending user in its shard
  std::uint32_t target = 0;  // index of the receiving user (o2o) or the group (fanout)
  std::uint64_t sequence = 0;
  std::uint64_t send_time_ns = 0;
};

// Writes `body` at the start of `out` and zero-fills the rest.
// REQUIRES: out.size() >= body_header_bytes.
inline void encode_body(const MessageBody& body, std::span<std::uint8_t> out) {
  std::memset(out.data(), 0, out.size());
  std::uint32_t magic = body_magic;
  std::memcpy(out.data(), &magic, 4);
  std::memcpy(out.data() + 4, &body.sender, 4);
  std::memcpy(out.data() + 8, &body.target, 4);
  std::memcpy(out.data() + 16, &body.sequence, 8);
  std::memcpy(out.data() + 24, &body.send_time_ns, 8);
}

// nullopt when the bytes are not a benchmark body (counted as misrouted by the caller).
inline std::optional<MessageBody> decode_body(std::span<const std::uint8_t> in) {
  if (in.size() < body_header_bytes) return std::nullopt;
  std::uint32_t magic = 0;
  std::memcpy(&magic, in.data(), 4);
  if (magic != body_magic) return std::nullopt;
  MessageBody body;
  std::memcpy(&body.sender, in.data() + 4, 4);
  std::memcpy(&body.target, in.data() + 8, 4);
  std::memcpy(&body.sequence, in.data() + 16, 8);
  std::memcpy(&body.send_time_ns, in.data() + 24, 8);
  return body;
}

}  // namespace qim::bench
