#pragma once
// Which key places each stored record (DESIGN §5, with one refinement): a record lives in the
// partition of its placement key, and every key starts with that partition (service/keys.h);
// after that 2-byte prefix:
//
//   accounts  <user>                       -> the user
//   cursors   <user>\0<conv>\0<device>     -> the user (read cursors follow the sessions)
//   friends   <user>\0<other>              -> the pair's direct conversation "d:<a>:<b>"
//   convs     <user>\0<conv>               -> the conversation
//   log, dedup <conv>\0...                 -> the conversation
//   groups    <gid>, members <gid>\0<user> -> the group conversation "g:<gid>"
//
// Friendship records live with the pair, and a user's conversation memberships with the
// conversation, so every write a request makes lands in one partition, one command and one
// atomic batch: a friendship changes both sides together, a group change writes the roster and
// each member's membership together, and the direct-message policy check reads the friendship
// where the message is appended. Listing a user's friends, conversations or groups gathers the
// parts from every partition instead (one prefix scan each).
#include <optional>
#include <string>
#include <string_view>

#include "store/kv.h"

namespace qim::service {

// The placement key of a stored key (its partition prefix included). nullopt for node-local
// columns (meta), for a partition's own records (the dedup prune cursor) and for keys that do
// not parse.
std::optional<std::string> placement_key(store::Column column, std::string_view key);

}  // namespace qim::service
