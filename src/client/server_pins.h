#pragma once
// Trust on first use (`qim --pin`): the fingerprint of each server's public key, kept per
// address ("host:port") in a file like ssh's known_hosts. The first connection to an address
// records its key; every later one must present the same key, or the connection is refused
// loudly. For clusters with self-signed certificates and no CA to hand out.
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "qim/errc.h"

namespace qim::client {

// "SHA256:" and the unpadded base64 of the SHA-256 of the key's DER SubjectPublicKeyInfo (the
// key, not the certificate: a renewed certificate for the same key keeps its pin). Empty when
// the connection has no peer certificate.
std::string peer_key_fingerprint(SSL* ssl);

// What the pin file says of one address, from its text.
struct PinLookup {
  std::optional<std::string> fingerprint;  // none: not seen before
  std::string malformed;                   // non-empty: the first bad line, described
};
PinLookup find_pin(std::string_view file_text, std::string_view address);

// One line of the file.
std::string pin_line(std::string_view address, std::string_view fingerprint);

class ServerPins {
 public:
  // Called once per address whose key is recorded on first use.
  using FirstUseNotice =
      std::function<void(const std::string& address, const std::string& fingerprint)>;

  ServerPins(std::string file, FirstUseNotice notice);

  // Error{} when `fingerprint` is the one on file for `address`, or when the address is new
  // (then recorded, and the notice called). auth_failed, saying what changed and how to
  // accept a legitimately new key, when it differs; invalid_argument when the file cannot be
  // read, written or parsed. Any thread; re-reads the file each time, so several processes
  // may share it.
  Error check(const std::string& address, const std::string& fingerprint);

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  FirstUseNotice notice_;
  std::mutex mutex_;
};

}  // namespace qim::client
