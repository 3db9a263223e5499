#pragma once
// The admin token: the shared secret qimctl presents in AdminHello. A node keeps it in a file
// (mode 0600) holding the token text; surrounding whitespace is ignored. Its default is
// <data-dir>/admin.token, created with a fresh random token (32 bytes, base64url) on first
// start; an explicitly named file must exist.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "auth/cluster_key.h"

namespace qim::admin {

inline constexpr std::size_t min_admin_token_bytes = 16;
inline constexpr std::size_t max_admin_token_bytes = 256;

// The token in `text` with surrounding whitespace removed; nullopt with `error` set when it is
// shorter than min_admin_token_bytes, longer than max_admin_token_bytes or holds anything but
// printable ASCII without spaces.
std::optional<std::string> parse_admin_token(std::string_view text, std::string& error);

// Reads and parses a token file. `warning` is set (the token still loads) when the group or
// others may read the file.
std::optional<std::string> read_admin_token_file(const std::string& path, std::string& error,
                                                 std::string& warning);

// Loads `path`, or when it does not exist and `create_if_missing` is set, writes a new token
// there first. REQUIRES: auth::initialize() has been called.
std::optional<std::string> load_or_create_admin_token(const std::string& path,
                                                      bool create_if_missing, std::string& error,
                                                      std::string& warning);

// The cluster's admin token, derived from the cluster key (BLAKE2b keyed with it, context
// "qim-admin-token/1", 32 bytes, base64url): every node of a cluster computes the same one, so
// one credential reaches every node, and nothing new has to be distributed or kept in sync.
// The derivation is one-way: the token does not reveal the key (which also seals gossip and
// peer links). REQUIRES: auth::initialize() has been called.
std::string derive_admin_token(const auth::ClusterKey& key);

// Makes `path` hold `token` (mode 0600), replacing a file with another token: the node's
// <data-dir>/admin.token, for `qimctl --data-dir`. False with `error` set on failure.
bool write_admin_token_file(const std::string& path, const std::string& token, std::string& error);

// Constant-time comparison of a presented token with the expected one (both are reduced to
// fixed-size digests first, so not even the length leaks).
bool admin_token_matches(std::string_view presented, std::string_view expected);

}  // namespace qim::admin
