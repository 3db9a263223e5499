#pragma once
// Session tokens: 32 random bytes, base64url without padding (43 characters). Only their
// BLAKE2b-256 digest is stored, so a leaked database does not leak working tokens.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace qim::auth {

inline constexpr std::size_t token_length = 43;
using TokenDigest = std::array<std::uint8_t, 32>;

// REQUIRES: initialize() has been called.
std::string new_token();

TokenDigest token_digest(std::string_view token);

// Constant-time comparison.
bool digest_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace qim::auth
