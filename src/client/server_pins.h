#pragma once
// Trust on first use (`qim --pin`): the fingerprint of each server's public key, kept per
// address ("host:port") in a file like ssh's known_hosts. The first connection to an address
// records its key; every later one must present the same key, or the connection is refused
// loudly. For clusters with self-signed certificates and no CA to hand out.
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "qim/errc.h"

namespace qim::client {

// "SHA256:" and the unpadded base64 of the SHA-256 of the key's DER SubjectPublicKeyInfo (the
// key, not the certificate: a renewed certificate for the same key keeps its pin). Empty when
// the connection has no peer certificate.
std::string peer_key_fingerprint(SSL* ssl);

// The address a pin is kept under: "host:port", "[v6]:port".
std::string pin_address(const std::string& host, std::uint16_t port);

// What the pin file says of one address, from its text.
struct PinLookup {
  std::optional<std::string> fingerprint;  // none: not seen before
  bool key_known = false;                  // `key` is pinned for some address
  std::string malformed;                   // non-empty: the first bad line, described
};
PinLookup find_pin(std::string_view file_text, std::string_view address, std::string_view key = {});

// One line of the file.
std::string pin_line(std::string_view address, std::string_view fingerprint);

class ServerPins {
 public:
  // Called once per address whose key is recorded on first use.
  using FirstUseNotice =
      std::function<void(const std::string& address, const std::string& fingerprint)>;

  ServerPins(std::string file, FirstUseNotice notice);

  // The user chose this address (connect()): its key may be trusted on first use. Addresses
  // the cluster names (redirects, HelloOk's list) may not: a server in the middle could name
  // itself. Any thread.
  void allow_first_use(const std::string& address);

  // Error{} when `fingerprint` is the one on file for `address`, or when the address is new
  // and either the user chose it or its key is already pinned for another address (a cluster
  // whose nodes share a certificate); it is then recorded and the notice called. auth_failed
  // when the key differs from the pinned one (saying what changed and how to accept a
  // legitimately new key) or when a new address the cluster named has a key never pinned
  // (saying how to pin it); invalid_argument when the file cannot be read, written or parsed.
  // Any thread; re-reads the file each time, so several processes may share it.
  Error check(const std::string& address, const std::string& fingerprint);

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  FirstUseNotice notice_;
  std::mutex mutex_;
  std::set<std::string> first_use_allowed_;
};

}  // namespace qim::client
