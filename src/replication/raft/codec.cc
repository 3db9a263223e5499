#include "replication/raft/codec.h"

#include <cstdint>

namespace qim::replication::raft {
namespace {

constexpr std::uint8_t kFormatVersion = 1;

}  // namespace

std::string encode(const ConfigChange& change) {
  std::string bytes(kConfigChangeBytes, '\0');
  bytes[0] = static_cast<char>(kFormatVersion);
  bytes[1] = static_cast<char>(change.kind);
  for (int i = 0; i < 8; ++i) {
    bytes[2 + i] = static_cast<char>((change.node >> (8 * i)) & 0xff);
  }
  return bytes;
}

bool decode(std::string_view bytes, ConfigChange& change) {
  if (bytes.size() != kConfigChangeBytes) return false;
  if (static_cast<std::uint8_t>(bytes[0]) != kFormatVersion) return false;
  const auto kind = static_cast<std::uint8_t>(bytes[1]);
  if (kind > static_cast<std::uint8_t>(ConfigChangeKind::remove)) return false;
  NodeId node = 0;
  for (int i = 0; i < 8; ++i) {
    node |= static_cast<NodeId>(static_cast<std::uint8_t>(bytes[2 + i])) << (8 * i);
  }
  if (node == kNoNode) return false;
  change.kind = static_cast<ConfigChangeKind>(kind);
  change.node = node;
  return true;
}

}  // namespace qim::replication::raft
