#include "auth/token.h"

#include <sodium.h>

namespace qim::auth {

namespace {
constexpr std::size_t token_random_bytes = 32;  // 256 bits: guessing is not an attack
static_assert(sodium_base64_ENCODED_LEN(token_random_bytes,
                                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) ==
                  token_length + 1,
              "token_length must match the base64url encoding of the random bytes");
static_assert(std::tuple_size_v<TokenDigest> == crypto_generichash_BYTES);
}  // namespace

std::string new_token() {
  unsigned char bytes[token_random_bytes];
  randombytes_buf(bytes, sizeof bytes);
  char text[token_length + 1];
  sodium_bin2base64(text, sizeof text, bytes, sizeof bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(text);
}

TokenDigest token_digest(std::string_view token) {
  TokenDigest digest;
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr,
                     0);
  return digest;
}

bool digest_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  return a.size() == b.size() && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace qim::auth
