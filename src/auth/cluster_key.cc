#include "auth/cluster_key.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cassert>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>
#include <sodium.h>

namespace qim::auth {

namespace {

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == cluster_key_bytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == sealed_nonce_bytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == sealed_tag_bytes);

// A key file is a line of text; anything much larger is not one.
constexpr std::size_t max_key_file_bytes = 4096;

std::string_view trim(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!text.empty() && is_space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && is_space(text.back()))
    text.remove_suffix(1);
  return text;
}

bool decode_hex(std::string_view text, std::array<std::uint8_t, cluster_key_bytes>& bytes) {
  if (text.size() != 2 * cluster_key_bytes) return false;
  std::size_t length = 0;
  const char* end = nullptr;
  return sodium_hex2bin(bytes.data(), bytes.size(), text.data(), text.size(), nullptr, &length,
                        &end) == 0 &&
         length == cluster_key_bytes && end == text.data() + text.size();
}

bool decode_base64(std::string_view text, std::array<std::uint8_t, cluster_key_bytes>& bytes) {
  // 32 bytes are 43 characters unpadded, 44 padded.
  if (text.size() != 43 && text.size() != 44) return false;
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    std::size_t length = 0;
    const char* end = nullptr;
    if (sodium_base642bin(bytes.data(), bytes.size(), text.data(), text.size(), nullptr, &length,
                          &end, variant) == 0 &&
        length == cluster_key_bytes && end == text.data() + text.size()) {
      return true;
    }
  }
  return false;
}

std::string permission_warning(const std::string& path, const struct stat& status) {
  if ((status.st_mode & (S_IRWXG | S_IRWXO)) == 0) return {};
  return fmt::format("{} is accessible by its group or others (mode {:03o}); chmod 600 it", path,
                     status.st_mode & 0777);
}

}  // namespace

ClusterKey::ClusterKey(const std::array<std::uint8_t, cluster_key_bytes>& bytes) : bytes_(bytes) {}

ClusterKey::~ClusterKey() {
  sodium_memzero(bytes_.data(), bytes_.size());
}

ClusterKey ClusterKey::generate() {
  std::array<std::uint8_t, cluster_key_bytes> bytes;
  crypto_aead_xchacha20poly1305_ietf_keygen(bytes.data());
  ClusterKey key(bytes);
  sodium_memzero(bytes.data(), bytes.size());
  return key;
}

std::optional<ClusterKey> ClusterKey::parse(std::string_view text, std::string& error) {
  std::string_view key_text = trim(text);
  std::array<std::uint8_t, cluster_key_bytes> bytes{};
  if (decode_hex(key_text, bytes) || decode_base64(key_text, bytes)) {
    ClusterKey key(bytes);
    sodium_memzero(bytes.data(), bytes.size());
    return key;
  }
  error = fmt::format(
      "a cluster key must be {} bytes written as {} hex characters or as base64 ({} or {} "
      "characters); found {} characters (generate one with qimd --generate-cluster-key FILE)",
      cluster_key_bytes, 2 * cluster_key_bytes, 43, 44, key_text.size());
  return std::nullopt;
}

std::optional<ClusterKey> ClusterKey::load(const std::string& path, std::string& error,
                                           std::string& warning) {
  std::string read_error;
  auto text = read_secret_file(path, max_key_file_bytes, read_error, warning);
  if (!text) {
    error = fmt::format("cluster key file {}: {}", path, read_error);
    return std::nullopt;
  }
  std::string parse_error;
  auto key = parse(*text, parse_error);
  sodium_memzero(text->data(), text->size());
  if (!key) error = fmt::format("cluster key file {}: {}", path, parse_error);
  return key;
}

std::vector<std::uint8_t> ClusterKey::seal(std::span<const std::uint8_t> plaintext,
                                           std::span<const std::uint8_t> associated_data) const {
  std::array<std::uint8_t, sealed_nonce_bytes> nonce;
  randombytes_buf(nonce.data(), nonce.size());
  return seal(plaintext, associated_data, nonce);
}

std::vector<std::uint8_t> ClusterKey::seal(std::span<const std::uint8_t> plaintext,
                                           std::span<const std::uint8_t> associated_data,
                                           std::span<const std::uint8_t> nonce) const {
  assert(nonce.size() == sealed_nonce_bytes);
  std::vector<std::uint8_t> sealed(sealed_overhead_bytes + plaintext.size());
  std::memcpy(sealed.data(), nonce.data(), sealed_nonce_bytes);
  unsigned long long ciphertext_length = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      sealed.data() + sealed_nonce_bytes, &ciphertext_length, plaintext.data(), plaintext.size(),
      associated_data.data(), associated_data.size(), nullptr, sealed.data(), bytes_.data());
  sealed.resize(sealed_nonce_bytes + static_cast<std::size_t>(ciphertext_length));
  return sealed;
}

std::optional<std::vector<std::uint8_t>> ClusterKey::open(
    std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> associated_data) const {
  if (sealed.size() < sealed_overhead_bytes) return std::nullopt;
  std::vector<std::uint8_t> plaintext(sealed.size() - sealed_overhead_bytes);
  unsigned long long plaintext_length = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          plaintext.data(), &plaintext_length, nullptr, sealed.data() + sealed_nonce_bytes,
          sealed.size() - sealed_nonce_bytes, associated_data.data(), associated_data.size(),
          sealed.data(), bytes_.data()) != 0) {
    return std::nullopt;
  }
  plaintext.resize(static_cast<std::size_t>(plaintext_length));
  return plaintext;
}

void ClusterKey::derive(std::string_view context, std::span<std::uint8_t> out) const {
  assert(out.size() >= crypto_generichash_BYTES_MIN && out.size() <= crypto_generichash_BYTES_MAX);
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const unsigned char*>(context.data()),
                     context.size(), bytes_.data(), bytes_.size());
}

std::string ClusterKey::to_hex() const {
  char text[2 * cluster_key_bytes + 1];
  sodium_bin2hex(text, sizeof text, bytes_.data(), bytes_.size());
  std::string result(text);
  sodium_memzero(text, sizeof text);
  return result;
}

bool write_key_file(const std::string& path, const ClusterKey& key, std::string& error) {
  std::string text = key.to_hex() + "\n";
  bool written = write_secret_file(path, text, error);
  sodium_memzero(text.data(), text.size());
  return written;
}

std::optional<ClusterKey> load_or_create_key_file(const std::string& path, bool create_if_missing,
                                                  std::string& error, std::string& warning) {
  if (create_if_missing && ::access(path.c_str(), F_OK) != 0 && errno == ENOENT) {
    bool already_exists = false;
    std::string write_error;
    if (!write_secret_file(path, ClusterKey::generate().to_hex() + "\n", write_error,
                           &already_exists) &&
        !already_exists) {  // another process won the race: load its key
      error = fmt::format("cannot create cluster key file: {}", write_error);
      return std::nullopt;
    }
  }
  return ClusterKey::load(path, error, warning);
}

std::optional<std::string> read_secret_file(const std::string& path, std::size_t max_bytes,
                                            std::string& error, std::string& warning) {
  int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) {
    error = fmt::format("cannot open {}: {}", path, std::strerror(errno));
    return std::nullopt;
  }
  struct stat status {};
  if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
    ::close(descriptor);
    error = fmt::format("{} is not a regular file", path);
    return std::nullopt;
  }
  if (static_cast<std::size_t>(status.st_size) > max_bytes) {
    ::close(descriptor);
    error = fmt::format("{} is {} bytes; at most {} expected", path,
                        static_cast<long long>(status.st_size), max_bytes);
    return std::nullopt;
  }
  warning = permission_warning(path, status);
  std::string text(max_bytes + 1, '\0');
  std::size_t filled = 0;
  for (;;) {
    ssize_t count = ::read(descriptor, text.data() + filled, text.size() - filled);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) {
      int saved = errno;
      ::close(descriptor);
      error = fmt::format("cannot read {}: {}", path, std::strerror(saved));
      return std::nullopt;
    }
    if (count == 0) break;
    filled += static_cast<std::size_t>(count);
    if (filled > max_bytes) {
      ::close(descriptor);
      error = fmt::format("{} is larger than {} bytes", path, max_bytes);
      return std::nullopt;
    }
  }
  ::close(descriptor);
  text.resize(filled);
  return text;
}

bool write_secret_file(const std::string& path, std::string_view text, std::string& error,
                       bool* already_exists) {
  if (already_exists) *already_exists = false;
  // Written under a temporary name, then linked into place: a reader never sees a partial
  // file, and link() fails rather than replace a file another process created meanwhile.
  std::string temporary = fmt::format("{}.tmp.{}", path, ::getpid());
  int descriptor = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (descriptor < 0) {
    error = fmt::format("cannot create {}: {}", temporary, std::strerror(errno));
    return false;
  }
  ::fchmod(descriptor, 0600);  // O_TRUNC of a leftover keeps its old mode
  std::size_t written = 0;
  int failure = 0;
  while (written < text.size() && failure == 0) {
    ssize_t count = ::write(descriptor, text.data() + written, text.size() - written);
    if (count < 0 && errno != EINTR) failure = errno;
    if (count > 0) written += static_cast<std::size_t>(count);
  }
  if (failure == 0 && ::fsync(descriptor) != 0) failure = errno;
  if (::close(descriptor) != 0 && failure == 0) failure = errno;
  if (failure == 0 && ::link(temporary.c_str(), path.c_str()) != 0) {
    failure = errno;
    if (failure == EEXIST && already_exists) *already_exists = true;
  }
  ::unlink(temporary.c_str());
  if (failure != 0) {
    error = fmt::format("cannot create {}: {}", path, std::strerror(failure));
    return false;
  }
  return true;
}

}  // namespace qim::auth
