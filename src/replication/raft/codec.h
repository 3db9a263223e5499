#pragma once
// The encoding of a ConfigChange in a config_change entry's data: a tiny fixed binary format,
// version byte first so that it can grow.
//
//   byte 0     format version (1)
//   byte 1     kind (ConfigChangeKind)
//   bytes 2-9  node id, unsigned 64-bit little-endian (never 0)
#include <string>
#include <string_view>

#include "replication/raft/types.h"

namespace qim::replication::raft {

inline constexpr std::size_t kConfigChangeBytes = 10;

std::string encode(const ConfigChange& change);
// Returns false (leaving `change` unspecified) unless `bytes` is exactly one valid encoding.
bool decode(std::string_view bytes, ConfigChange& change);

}  // namespace qim::replication::raft
