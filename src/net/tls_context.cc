#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/core.h>

#include "net/tls_stream.h"

namespace qim::net {

std::string take_openssl_error() {
  unsigned long code = ERR_get_error();
  unsigned long last = code;
  while (code != 0) {  // the last one queued is the most specific
    last = code;
    code = ERR_get_error();
  }
  if (last == 0) return {};
  char text[256];
  ERR_error_string_n(last, text, sizeof text);
  return text;
}

namespace {

// A clearer message than OpenSSL's for the common case of a wrong path.
bool readable(const std::string& path, const char* flag, std::string& error) {
  std::ifstream file(path);
  if (file) return true;
  error = fmt::format("cannot read {} {}: {}", flag, path, std::strerror(errno));
  return false;
}

// Clients must present a certificate that one of the CAs in the file signed; the handshake
// fails without one (TLS 1.3 sends the certificate_required alert).
bool require_client_certificates(SSL_CTX* context, const TlsFiles& files, std::string& error) {
  const std::string& ca_file = files.client_ca_file;
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca_file.c_str());
  if (names == nullptr || SSL_CTX_load_verify_locations(context, ca_file.c_str(), nullptr) != 1) {
    if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
    error = fmt::format("--tls-client-ca {} holds no usable PEM CA certificate: {}", ca_file,
                        take_openssl_error());
    return false;
  }
  SSL_CTX_set_client_CA_list(context, names);  // takes ownership: the names sent to clients
  SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return true;
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::load(const TlsFiles& files, std::string& error) {
  const std::string& certificate_file = files.certificate_file;
  const std::string& key_file = files.key_file;
  if (!readable(certificate_file, "--tls-cert", error) || !readable(key_file, "--tls-key", error))
    return nullptr;
  if (!files.client_ca_file.empty() && !readable(files.client_ca_file, "--tls-client-ca", error))
    return nullptr;
  ERR_clear_error();
  SSL_CTX* context = SSL_CTX_new(TLS_server_method());
  if (context == nullptr) {
    error = fmt::format("cannot create a TLS context: {}", take_openssl_error());
    return nullptr;
  }
  std::shared_ptr<const TlsContext> owner(new TlsContext(context));
  SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION);
  // Clients never resume (they log in with a token instead): no tickets to write after every
  // handshake.
  SSL_CTX_set_num_tickets(context, 0);
  // A peer that closes without close_notify is a peer that went away, as on a plain socket.
  SSL_CTX_set_options(context, SSL_OP_IGNORE_UNEXPECTED_EOF);
  // RELEASE_BUFFERS: an idle connection keeps no 16 KiB record buffers. The other two match
  // the connection's writer, which retries from a buffer that may have moved and takes
  // partial writes like send(2).
  SSL_CTX_set_mode(context, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // The traffic secrets reach each connection's TlsStream, which protects the records itself
  // once the handshake is done (net/tls_stream.h). Nothing is written anywhere.
  SSL_CTX_set_keylog_callback(context, tls_stream_key_log);
  if (SSL_CTX_use_certificate_chain_file(context, certificate_file.c_str()) != 1) {
    error = fmt::format("--tls-cert {} holds no usable PEM certificate: {}", certificate_file,
                        take_openssl_error());
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(context, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      error = fmt::format("--tls-key {} does not belong to the certificate in --tls-cert {}",
                          key_file, certificate_file);
      ERR_clear_error();
    } else {
      error = fmt::format("--tls-key {} holds no usable PEM private key: {}", key_file,
                          take_openssl_error());
    }
    return nullptr;
  }
  if (SSL_CTX_check_private_key(context) != 1) {
    error = fmt::format("--tls-key {} does not belong to the certificate in --tls-cert {}",
                        key_file, certificate_file);
    ERR_clear_error();
    return nullptr;
  }
  if (!files.client_ca_file.empty() && !require_client_certificates(context, files, error))
    return nullptr;
  return owner;
}

TlsContext::~TlsContext() {
  SSL_CTX_free(context_);
}

}  // namespace qim::net
