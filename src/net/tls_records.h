#pragma once
// TLS 1.3 record protection (RFC 8446 §5) for a connection whose handshake OpenSSL has done:
// the traffic keys of each direction, sealing plaintext into records and opening records in
// place, and KeyUpdate. I/O-free. It exists for memory: OpenSSL 3.0 keeps about 14 KiB per
// established connection in its SSL object whatever the buffer modes, while these keys are a
// few hundred bytes, so an idle TLS connection costs little more than a plaintext one.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace qim::net {

// The TLS 1.3 cipher suites OpenSSL negotiates by default.
enum class TlsSuite : std::uint8_t {
  aes_128_gcm_sha256,
  aes_256_gcm_sha384,
  chacha20_poly1305_sha256
};

// From the suite's IANA number (SSL_CIPHER_get_protocol_id); nullopt for any other suite.
std::optional<TlsSuite> tls_suite_of(std::uint16_t protocol_id);

inline constexpr std::size_t tls_record_header_bytes = 5;
inline constexpr std::size_t tls_max_plaintext = 16384;  // per record
inline constexpr std::size_t tls_tag_bytes = 16;
// The largest record a peer may send (RFC 8446 §5.2: 2^14 + 256 bytes of ciphertext).
inline constexpr std::size_t tls_max_record = tls_record_header_bytes + tls_max_plaintext + 256;
// Bytes a sealed record adds to its content: header, inner content type, tag.
inline constexpr std::size_t tls_record_overhead = tls_record_header_bytes + 1 + tls_tag_bytes;

// Record content types (the inner type of a protected record).
inline constexpr std::uint8_t tls_alert = 21;
inline constexpr std::uint8_t tls_handshake = 22;
inline constexpr std::uint8_t tls_application_data = 23;

// The keys of one direction: its traffic secret (kept for KeyUpdate), the AEAD key and IV
// derived from it, and the sequence number of the next record.
class TrafficKeys {
 public:
  TrafficKeys() = default;
  ~TrafficKeys();
  TrafficKeys(const TrafficKeys&) = delete;
  TrafficKeys& operator=(const TrafficKeys&) = delete;

  // False when `secret` is not the size of the suite's hash, the suite's cipher is not
  // available, or the derivation fails.
  bool init(TlsSuite suite, std::span<const std::uint8_t> secret);
  // The next generation (KeyUpdate, RFC 8446 §7.2); the sequence number starts over.
  bool update();

  TlsSuite suite() const { return suite_; }
  std::uint64_t sequence() const { return sequence_; }
  std::span<const std::uint8_t> key() const { return {key_, key_bytes()}; }
  // The nonce of the next record: the IV xor the sequence number.
  void next_nonce(std::uint8_t (&nonce)[12]) const;
  void advance() { ++sequence_; }

 private:
  std::size_t key_bytes() const { return suite_ == TlsSuite::aes_128_gcm_sha256 ? 16 : 32; }
  bool derive();

  TlsSuite suite_ = TlsSuite::aes_128_gcm_sha256;
  std::uint8_t secret_bytes_ = 0;
  std::uint8_t secret_[48] = {};
  std::uint8_t key_[32] = {};
  std::uint8_t iv_[12] = {};
  std::uint64_t sequence_ = 0;
};

// Seals `content` (at most tls_max_plaintext bytes) as one record of inner type `type` into
// `out`, which has room for content.size() + tls_record_overhead bytes. Returns the record's
// size, 0 if the cipher failed.
std::size_t seal_record(TrafficKeys& keys, std::uint8_t type, std::span<const std::uint8_t> content,
                        std::uint8_t* out);

struct OpenedRecord {
  enum class Status : std::uint8_t { incomplete, opened, bad };
  Status status = Status::incomplete;
  std::size_t record_bytes = 0;  // opened: the whole record, header included
  std::uint8_t type = 0;         // opened: the inner content type
  std::span<std::uint8_t> content;
  const char* why = "";  // bad: what was wrong, for the log
};

// Opens the record at the start of `bytes` in place: incomplete when `bytes` does not hold it
// all yet; bad when it is not an application_data record of a legal size, fails
// authentication, or has no inner content type.
OpenedRecord open_record(TrafficKeys& keys, std::span<std::uint8_t> bytes);

// The one post-handshake handshake message the server accepts: a KeyUpdate, alone in its
// record.
struct KeyUpdate {
  bool valid = false;
  bool update_requested = false;  // the peer asks for ours
};
KeyUpdate parse_key_update(std::span<const std::uint8_t> content);

}  // namespace qim::net
