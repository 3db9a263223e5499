#include <catch2/catch.hpp>

#include <set>

#include "auth/password.h"
#include "auth/token.h"

using namespace qim::auth;

TEST_CASE("auth: password hashes verify, and only with the right password", "[auth]") {
  REQUIRE(initialize());
  auto hash = hash_password("correct horse", PasswordCost::minimum());
  REQUIRE(hash);
  CHECK(hash->starts_with("$argon2id$"));
  CHECK(verify_password(*hash, "correct horse"));
  CHECK_FALSE(verify_password(*hash, "correct horsE"));
  CHECK_FALSE(verify_password(*hash, ""));
  CHECK_FALSE(verify_password("", "correct horse"));
  CHECK_FALSE(verify_password(std::string(1000, '$'), "correct horse"));
  auto again = hash_password("correct horse", PasswordCost::minimum());
  REQUIRE(again);
  CHECK(*again != *hash);  // a fresh salt each time
}

TEST_CASE("auth: password costs parse by name or as ops:mem_kib", "[auth]") {
  CHECK(PasswordCost::parse("interactive"));
  CHECK(PasswordCost::parse("moderate"));
  auto minimum = PasswordCost::parse("min");
  REQUIRE(minimum);
  CHECK(minimum->ops_limit == PasswordCost::minimum().ops_limit);
  auto custom = PasswordCost::parse("3:65536");
  REQUIRE(custom);
  CHECK(custom->ops_limit == 3);
  CHECK(custom->mem_limit_bytes == 65536u * 1024);
  CHECK_FALSE(PasswordCost::parse(""));
  CHECK_FALSE(PasswordCost::parse("fast"));
  CHECK_FALSE(PasswordCost::parse("0:65536"));
  CHECK_FALSE(PasswordCost::parse("3:"));
  CHECK_FALSE(PasswordCost::parse("3:1x"));
  CHECK_FALSE(PasswordCost::parse("3:99999999999999999999"));
  CHECK_FALSE(PasswordCost::parse("1:1"));            // below libsodium's 8 KiB minimum
  CHECK_FALSE(PasswordCost::parse("-1:65536"));       // no signs
  CHECK_FALSE(PasswordCost::parse("4294967296:64"));  // above libsodium's ops maximum
  CHECK_FALSE(PasswordCost::parse("Interactive"));
  auto smallest = PasswordCost::parse("1:8");
  REQUIRE(smallest);
  CHECK(smallest->mem_limit_bytes == PasswordCost::minimum().mem_limit_bytes);
}

TEST_CASE("auth: tokens are random, url-safe, and compared by digest", "[auth]") {
  REQUIRE(initialize());
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string token = new_token();
    REQUIRE(token.size() == token_length);
    for (char c : token) {
      bool url_safe = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
      REQUIRE(url_safe);
    }
    CHECK(seen.insert(token).second);
  }
  std::string token = new_token();
  auto digest = token_digest(token);
  CHECK(digest_equal(digest, token_digest(token)));
  CHECK_FALSE(digest_equal(digest, token_digest(new_token())));
  CHECK_FALSE(digest_equal(digest, std::span<const std::uint8_t>(digest.data(), 31)));
}
