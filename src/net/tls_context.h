#pragma once
// The operator's certificate and key, loaded into an OpenSSL context that client connections
// on a TLS port are created from. TLS 1.3 only.
#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace qim::net {

// The PEM files a TLS context is loaded from.
struct TlsFiles {
  std::string certificate_file;
  std::string key_file;
  // CA certificates that sign the certificates clients must present; empty: clients present
  // none.
  std::string client_ca_file;
};

// Immutable once loaded; shared by the listener and every connection being set up (a
// connection's SSL object holds its own reference to the OpenSSL context afterwards, so a
// reload never affects connections already open).
class TlsContext {
 public:
  // Reads a PEM certificate chain, its private key and the client CAs if any. Null with
  // `error` set (naming the file and what is wrong with it) when a file is missing,
  // unreadable, not PEM, or the key does not belong to the certificate.
  static std::shared_ptr<const TlsContext> load(const TlsFiles& files, std::string& error);
  ~TlsContext();

  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return context_; }

 private:
  explicit TlsContext(SSL_CTX* context) : context_(context) {}
  SSL_CTX* context_;
};

// The most recent OpenSSL error of this thread as text (empty when none), clearing the queue.
std::string take_openssl_error();

}  // namespace qim::net
