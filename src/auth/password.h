#pragma once
// Password hashing with libsodium's crypto_pwhash (Argon2id). Thread-safe.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace qim::auth {

struct PasswordCost {
  unsigned long long ops_limit;
  std::size_t mem_limit_bytes;

  // libsodium's interactive profile (2 passes, 64 MiB): the production default.
  static PasswordCost interactive();
  // The smallest allowed cost (1 pass, 8 KiB): tests and benchmarks only.
  static PasswordCost minimum();
  // "interactive", "moderate", "min", or "<ops>:<mem_kib>"; nullopt when unparseable or out of
  // libsodium's bounds.
  static std::optional<PasswordCost> parse(std::string_view text);
};

// Must be called once before anything else in auth/ (idempotent, thread-safe).
// Returns false when libsodium cannot initialise.
bool initialize();

// crypto_pwhash_str output (self-describing: algorithm, cost and salt are inside).
// nullopt when the system is out of memory for the requested cost.
std::optional<std::string> hash_password(std::string_view password, PasswordCost cost);

// Constant-time verification against a stored hash.
bool verify_password(std::string_view stored_hash, std::string_view password);

}  // namespace qim::auth
