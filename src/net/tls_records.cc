#include "net/tls_records.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <cstring>
#include <string_view>

namespace qim::net {
namespace {

// Per thread: one cipher context, re-keyed per record (cheap next to the system call that
// moves the record), and the ciphers fetched once.
class CipherScratch {
 public:
  CipherScratch()
      : context_(EVP_CIPHER_CTX_new()),
        ciphers_{EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr),
                 EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr),
                 EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr)} {}
  ~CipherScratch() {
    EVP_CIPHER_CTX_free(context_);
    for (EVP_CIPHER* cipher : ciphers_)
      EVP_CIPHER_free(cipher);
  }
  CipherScratch(const CipherScratch&) = delete;
  CipherScratch& operator=(const CipherScratch&) = delete;

  EVP_CIPHER_CTX* context() const { return context_; }
  const EVP_CIPHER* cipher(TlsSuite suite) const { return ciphers_[static_cast<int>(suite)]; }

 private:
  EVP_CIPHER_CTX* context_;
  EVP_CIPHER* ciphers_[3];
};

CipherScratch& scratch() {
  thread_local CipherScratch instance;
  return instance;
}

const EVP_MD* hash_of(TlsSuite suite) {
  return suite == TlsSuite::aes_256_gcm_sha384 ? EVP_sha384() : EVP_sha256();
}

// HKDF-Expand-Label(secret, label, "", out.size()) of RFC 8446 §7.1.
bool expand_label(TlsSuite suite, std::span<const std::uint8_t> secret, std::string_view label,
                  std::span<std::uint8_t> out) {
  std::uint8_t info[2 + 1 + 6 + 32 + 1];
  std::size_t full_label = 6 + label.size();
  if (full_label > 32) return false;
  std::size_t length = 0;
  info[length++] = static_cast<std::uint8_t>(out.size() >> 8);
  info[length++] = static_cast<std::uint8_t>(out.size());
  info[length++] = static_cast<std::uint8_t>(full_label);
  std::memcpy(info + length, "tls13 ", 6);
  length += 6;
  std::memcpy(info + length, label.data(), label.size());
  length += label.size();
  info[length++] = 0;  // empty context
  EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  std::size_t out_bytes = out.size();
  bool done =
      context != nullptr && EVP_PKEY_derive_init(context) > 0 &&
      EVP_PKEY_CTX_set_hkdf_mode(context, EVP_PKEY_HKDEF_MODE_EXPAND_ONLY) > 0 &&
      EVP_PKEY_CTX_set_hkdf_md(context, hash_of(suite)) > 0 &&
      EVP_PKEY_CTX_set1_hkdf_key(context, secret.data(), static_cast<int>(secret.size())) > 0 &&
      EVP_PKEY_CTX_add1_hkdf_info(context, info, static_cast<int>(length)) > 0 &&
      EVP_PKEY_derive(context, out.data(), &out_bytes) > 0 && out_bytes == out.size();
  EVP_PKEY_CTX_free(context);
  return done;
}

void write_header(std::uint8_t* out, std::size_t ciphertext_bytes) {
  out[0] = tls_application_data;  // every protected record's outer type
  out[1] = 0x03;
  out[2] = 0x03;
  out[3] = static_cast<std::uint8_t>(ciphertext_bytes >> 8);
  out[4] = static_cast<std::uint8_t>(ciphertext_bytes);
}

}  // namespace

std::optional<TlsSuite> tls_suite_of(std::uint16_t protocol_id) {
  switch (protocol_id) {
    case 0x1301:
      return TlsSuite::aes_128_gcm_sha256;
    case 0x1302:
      return TlsSuite::aes_256_gcm_sha384;
    case 0x1303:
      return TlsSuite::chacha20_poly1305_sha256;
    default:
      return std::nullopt;
  }
}

TrafficKeys::~TrafficKeys() {
  OPENSSL_cleanse(secret_, sizeof secret_);
  OPENSSL_cleanse(key_, sizeof key_);
  OPENSSL_cleanse(iv_, sizeof iv_);
}

bool TrafficKeys::init(TlsSuite suite, std::span<const std::uint8_t> secret) {
  if (scratch().context() == nullptr || scratch().cipher(suite) == nullptr) return false;
  std::size_t hash_bytes = suite == TlsSuite::aes_256_gcm_sha384 ? 48 : 32;
  if (secret.size() != hash_bytes) return false;
  suite_ = suite;
  secret_bytes_ = static_cast<std::uint8_t>(hash_bytes);
  std::memcpy(secret_, secret.data(), hash_bytes);
  sequence_ = 0;
  return derive();
}

bool TrafficKeys::update() {
  std::uint8_t next[48];
  std::span<std::uint8_t> next_secret(next, secret_bytes_);
  if (!expand_label(suite_, {secret_, secret_bytes_}, "traffic upd", next_secret)) return false;
  std::memcpy(secret_, next, secret_bytes_);
  OPENSSL_cleanse(next, sizeof next);
  sequence_ = 0;
  return derive();
}

bool TrafficKeys::derive() {
  std::span<const std::uint8_t> secret(secret_, secret_bytes_);
  return expand_label(suite_, secret, "key", {key_, key_bytes()}) &&
         expand_label(suite_, secret, "iv", {iv_, sizeof iv_});
}

void TrafficKeys::next_nonce(std::uint8_t (&nonce)[12]) const {
  std::memcpy(nonce, iv_, sizeof iv_);
  for (int i = 0; i < 8; ++i)
    nonce[11 - i] ^= static_cast<std::uint8_t>(sequence_ >> (8 * i));
}

std::size_t seal_record(TrafficKeys& keys, std::uint8_t type, std::span<const std::uint8_t> content,
                        std::uint8_t* out) {
  if (content.size() > tls_max_plaintext) return 0;
  std::size_t inner = content.size() + 1;
  write_header(out, inner + tls_tag_bytes);
  std::uint8_t nonce[12];
  keys.next_nonce(nonce);
  EVP_CIPHER_CTX* context = scratch().context();
  std::uint8_t* body = out + tls_record_header_bytes;
  int produced = 0, tail = 0, aad = 0, last = 0;
  bool sealed =
      EVP_EncryptInit_ex2(context, scratch().cipher(keys.suite()), keys.key().data(), nonce,
                          nullptr) == 1 &&
      EVP_EncryptUpdate(context, nullptr, &aad, out, tls_record_header_bytes) == 1 &&
      EVP_EncryptUpdate(context, body, &produced, content.data(),
                        static_cast<int>(content.size())) == 1 &&
      EVP_EncryptUpdate(context, body + produced, &last, &type, 1) == 1 &&
      EVP_EncryptFinal_ex(context, body + produced + last, &tail) == 1 &&
      static_cast<std::size_t>(produced + last + tail) == inner &&
      EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, tls_tag_bytes, body + inner) == 1;
  if (!sealed) return 0;
  keys.advance();
  return tls_record_header_bytes + inner + tls_tag_bytes;
}

OpenedRecord open_record(TrafficKeys& keys, std::span<std::uint8_t> bytes) {
  OpenedRecord result;
  if (bytes.size() < tls_record_header_bytes) return result;
  auto bad = [&](const char* why) {
    result.status = OpenedRecord::Status::bad;
    result.why = why;
    return result;
  };
  if (bytes[0] != tls_application_data) return bad("unexpected record type");
  if (bytes[1] != 0x03) return bad("bad record version");
  std::size_t ciphertext = (std::size_t{bytes[3]} << 8) | bytes[4];
  if (ciphertext > tls_max_record - tls_record_header_bytes) return bad("record overflow");
  if (ciphertext < tls_tag_bytes + 1) return bad("record too short");
  if (bytes.size() < tls_record_header_bytes + ciphertext) return result;
  std::size_t inner = ciphertext - tls_tag_bytes;
  if (inner > tls_max_plaintext + 256) return bad("record overflow");
  std::uint8_t* body = bytes.data() + tls_record_header_bytes;
  std::uint8_t nonce[12];
  keys.next_nonce(nonce);
  EVP_CIPHER_CTX* context = scratch().context();
  int produced = 0, tail = 0, aad = 0;
  bool opened =
      EVP_DecryptInit_ex2(context, scratch().cipher(keys.suite()), keys.key().data(), nonce,
                          nullptr) == 1 &&
      EVP_DecryptUpdate(context, nullptr, &aad, bytes.data(), tls_record_header_bytes) == 1 &&
      EVP_DecryptUpdate(context, body, &produced, body, static_cast<int>(inner)) == 1 &&
      EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, tls_tag_bytes, body + inner) == 1 &&
      EVP_DecryptFinal_ex(context, body + produced, &tail) == 1;
  if (!opened) return bad("bad record MAC");
  keys.advance();
  // The inner plaintext is content, its type, then zero padding.
  std::size_t end = inner;
  while (end > 0 && body[end - 1] == 0)
    --end;
  if (end == 0) return bad("record without a content type");
  if (end > tls_max_plaintext + 1) return bad("record overflow");  // RFC 8446 §5.4
  result.status = OpenedRecord::Status::opened;
  result.record_bytes = tls_record_header_bytes + ciphertext;
  result.type = body[end - 1];
  result.content = {body, end - 1};
  return result;
}

KeyUpdate parse_key_update(std::span<const std::uint8_t> content) {
  constexpr std::uint8_t key_update = 24;
  // One message, alone in its record: a KeyUpdate must end its record (RFC 8446 §5.1).
  if (content.size() != 5 || content[0] != key_update || content[1] != 0 || content[2] != 0 ||
      content[3] != 1 || content[4] > 1) {
    return {};
  }
  return {true, content[4] == 1};
}

}  // namespace qim::net
