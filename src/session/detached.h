#pragma once
// Running one client request outside its connection: at the home of the request's key (a
// request forwarded from another node) or on the blocking pool of this node (a request that
// may wait for other nodes). The same handlers as a connected session run it, so a request
// behaves the same wherever it is served.
#include <cstdint>
#include <span>
#include <vector>

#include "service/im_service.h"

namespace qim::session {

// Runs `payload` (a client Envelope, not yet verified) as `caller`, who is logged in at the
// node that sent it, and returns the one client frame that answers it (length prefix
// included). Never forwards again: a key this node does not serve now gets
// Error{Unavailable}. May block (call it on the blocking pool).
std::vector<std::uint8_t> serve_detached(service::ImService& service, const service::Caller& caller,
                                         std::span<const std::uint8_t> payload);

}  // namespace qim::session
