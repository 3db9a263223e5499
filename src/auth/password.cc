#include "auth/password.h"

#include <charconv>
#include <cstring>
#include <mutex>

#include <sodium.h>

namespace qim::auth {

PasswordCost PasswordCost::interactive() {
  return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

PasswordCost PasswordCost::minimum() {
  return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
}

std::optional<PasswordCost> PasswordCost::parse(std::string_view text) {
  if (text == "interactive") return interactive();
  if (text == "moderate") {
    return PasswordCost{crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
  }
  if (text == "min") return minimum();
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned long long ops = 0;
  std::size_t memory_kib = 0;
  std::string_view ops_text = text.substr(0, colon), memory_text = text.substr(colon + 1);
  auto ops_result = std::from_chars(ops_text.data(), ops_text.data() + ops_text.size(), ops);
  auto memory_result =
      std::from_chars(memory_text.data(), memory_text.data() + memory_text.size(), memory_kib);
  if (ops_result.ec != std::errc() || ops_result.ptr != ops_text.data() + ops_text.size() ||
      memory_result.ec != std::errc() ||
      memory_result.ptr != memory_text.data() + memory_text.size()) {
    return std::nullopt;
  }
  if (memory_kib > crypto_pwhash_MEMLIMIT_MAX / 1024) return std::nullopt;
  PasswordCost cost{ops, memory_kib * 1024};
  if (cost.ops_limit < crypto_pwhash_OPSLIMIT_MIN || cost.ops_limit > crypto_pwhash_OPSLIMIT_MAX ||
      cost.mem_limit_bytes < crypto_pwhash_MEMLIMIT_MIN) {
    return std::nullopt;
  }
  return cost;
}

bool initialize() {
  // sodium_init is itself thread-safe and idempotent: 0 the first time, 1 afterwards.
  return sodium_init() >= 0;
}

std::optional<std::string> hash_password(std::string_view password, PasswordCost cost) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), cost.ops_limit,
                            cost.mem_limit_bytes, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return std::nullopt;  // out of memory for this cost
  }
  return std::string(out);
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  // crypto_pwhash_str_verify wants a NUL-terminated string that fits its buffer.
  char hash[crypto_pwhash_STRBYTES];
  if (stored_hash.empty() || stored_hash.size() >= sizeof hash) return false;
  std::memcpy(hash, stored_hash.data(), stored_hash.size());
  hash[stored_hash.size()] = '\0';
  return crypto_pwhash_str_verify(hash, password.data(), password.size()) == 0;
}

}  // namespace qim::auth
