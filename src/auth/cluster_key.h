#pragma once
// The cluster key: 32 random bytes shared by every node of a cluster. Gossip datagrams and
// push-pull states are sealed with it (XChaCha20-Poly1305 IETF, a random 24-byte nonce in
// front), so a host without the key can neither join nor inject membership updates.
//
// Key file: the key as 64 hex characters or as base64 (standard or URL-safe, padded or not),
// surrounding whitespace ignored. Anything else is rejected with a message saying why.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace qim::auth {

inline constexpr std::size_t cluster_key_bytes = 32;
inline constexpr std::size_t sealed_nonce_bytes = 24;
inline constexpr std::size_t sealed_tag_bytes = 16;
// What seal() adds to the plaintext.
inline constexpr std::size_t sealed_overhead_bytes = sealed_nonce_bytes + sealed_tag_bytes;

// Immutable after construction, so one key may be used from any number of threads.
// REQUIRES (every member): initialize() (auth/password.h) has been called.
class ClusterKey {
 public:
  explicit ClusterKey(const std::array<std::uint8_t, cluster_key_bytes>& bytes);
  ~ClusterKey();  // wipes the key bytes

  ClusterKey(const ClusterKey&) = default;
  ClusterKey& operator=(const ClusterKey&) = default;

  // A fresh random key.
  static ClusterKey generate();
  // Parses the text of a key file; nullopt with `error` set when it is not a key.
  static std::optional<ClusterKey> parse(std::string_view text, std::string& error);
  // Reads and parses a key file. `warning` is set (the key still loads) when the file is
  // readable by its group or by others.
  static std::optional<ClusterKey> load(const std::string& path, std::string& error,
                                        std::string& warning);

  // nonce || ciphertext || tag, authenticating `associated_data` too.
  std::vector<std::uint8_t> seal(std::span<const std::uint8_t> plaintext,
                                 std::span<const std::uint8_t> associated_data) const;
  // The same with the caller's nonce (sealed_nonce_bytes long), for a caller that can make
  // nonces unique without drawing random bytes per frame (a connection's random prefix and a
  // counter). REQUIRES: no nonce is ever used twice with this key.
  std::vector<std::uint8_t> seal(std::span<const std::uint8_t> plaintext,
                                 std::span<const std::uint8_t> associated_data,
                                 std::span<const std::uint8_t> nonce) const;
  // The plaintext, or nullopt when `sealed` is too short, was sealed with another key or
  // other associated data, or was altered.
  std::optional<std::vector<std::uint8_t>> open(
      std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> associated_data) const;

  // Fills `out` (16 to 64 bytes) with a value derived from the key and `context` (BLAKE2b keyed
  // with the cluster key): per-purpose secrets that every member computes alike, such as the
  // ring's hash seed, without a second shared secret to distribute.
  void derive(std::string_view context, std::span<std::uint8_t> out) const;

  // The key as 64 lowercase hex characters (the key file format written by write_key_file).
  std::string to_hex() const;

 private:
  std::array<std::uint8_t, cluster_key_bytes> bytes_;
};

// Writes `key` to `path` (mode 0600, created exclusively: an existing file is never
// overwritten). False with `error` set on failure.
bool write_key_file(const std::string& path, const ClusterKey& key, std::string& error);

// Loads `path`, or when it does not exist and `create_if_missing` is set, generates a key and
// writes it there first. nullopt with `error` set on failure; `warning` as for load().
std::optional<ClusterKey> load_or_create_key_file(const std::string& path, bool create_if_missing,
                                                  std::string& error, std::string& warning);

// Reads a small secret file that is written 0600 (admin token, key). `warning` is set when the
// group or others may read it. nullopt with `error` set when it cannot be read or exceeds
// `max_bytes`.
std::optional<std::string> read_secret_file(const std::string& path, std::size_t max_bytes,
                                            std::string& error, std::string& warning);

// Writes `text` to `path` with mode 0600, exclusively. False with `error` set on failure
// (including when the file already exists: `already_exists` is then set).
bool write_secret_file(const std::string& path, std::string_view text, std::string& error,
                       bool* already_exists = nullptr);

}  // namespace qim::auth
