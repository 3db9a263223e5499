#include "admin/admin_token.h"

#include <sodium.h>
#include <unistd.h>

#include <array>

#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "auth/cluster_key.h"
#include "auth/token.h"

namespace qim::admin {
namespace {

// A token file is the token and a newline; anything much larger is not a token file.
constexpr std::size_t max_token_file_bytes = max_admin_token_bytes + 64;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

std::optional<std::string> parse_admin_token(std::string_view text, std::string& error) {
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  if (text.size() < min_admin_token_bytes || text.size() > max_admin_token_bytes) {
    error = fmt::format("an admin token is {} to {} characters, got {}", min_admin_token_bytes,
                        max_admin_token_bytes, text.size());
    return std::nullopt;
  }
  for (char c : text) {
    if (c <= ' ' || c > '~') {
      error = "an admin token holds printable ASCII characters only, without spaces";
      return std::nullopt;
    }
  }
  return std::string(text);
}

std::optional<std::string> read_admin_token_file(const std::string& path, std::string& error,
                                                 std::string& warning) {
  std::string read_error;
  auto text = auth::read_secret_file(path, max_token_file_bytes, read_error, warning);
  if (!text) {
    error = fmt::format("admin token file: {}", read_error);
    return std::nullopt;
  }
  std::string parse_error;
  auto token = parse_admin_token(*text, parse_error);
  if (!token) error = fmt::format("admin token file {}: {}", path, parse_error);
  return token;
}

std::optional<std::string> load_or_create_admin_token(const std::string& path,
                                                      bool create_if_missing, std::string& error,
                                                      std::string& warning) {
  if (create_if_missing && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    bool already_exists = false;
    std::string write_error;
    if (!auth::write_secret_file(path, auth::new_token() + "\n", write_error, &already_exists) &&
        !already_exists) {  // another process won the race: load its token
      error = fmt::format("cannot create admin token file: {}", write_error);
      return std::nullopt;
    }
  }
  return read_admin_token_file(path, error, warning);
}

std::string derive_admin_token(const auth::ClusterKey& key) {
  std::array<std::uint8_t, 32> bytes{};
  key.derive("qim-admin-token/1", bytes);
  char text[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, bytes.data(), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(bytes.data(), bytes.size());
  return text;
}

bool write_admin_token_file(const std::string& path, const std::string& token, std::string& error) {
  std::string read_error, warning;
  if (auto current = read_admin_token_file(path, read_error, warning);
      current && *current == token && warning.empty()) {
    return true;
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    error = fmt::format("cannot replace the admin token file {}: {}", path, std::strerror(errno));
    return false;
  }
  bool already_exists = false;
  if (!auth::write_secret_file(path, token + "\n", error, &already_exists)) {
    error = fmt::format("cannot write the admin token file: {}", error);
    return false;
  }
  return true;
}

bool admin_token_matches(std::string_view presented, std::string_view expected) {
  auth::TokenDigest presented_digest = auth::token_digest(presented);
  auth::TokenDigest expected_digest = auth::token_digest(expected);
  return auth::digest_equal(presented_digest, expected_digest);
}

}  // namespace qim::admin
