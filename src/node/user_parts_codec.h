#pragma once
// The service's per-node list parts (service::UserParts) on the peer wire: UserPartsResult
// reuses the client protocol's ConversationState, Friend and GroupInfo tables.
#include <cstdint>
#include <vector>

#include "proto/peer_frame.h"
#include "service/cluster_queries.h"

namespace qim::node {

std::vector<std::uint8_t> encode_user_parts(const service::UserParts& parts);
service::UserParts decode_user_parts(const peer_wire::UserPartsResult& result);

}  // namespace qim::node
