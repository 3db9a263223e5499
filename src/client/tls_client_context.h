#pragma once
// The client side of TLS: one OpenSSL context per Client, shared by its connections (the
// first one and every one after a redirect or a reconnect), TLS 1.3 only.
#include <memory>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include "qim/client.h"

namespace qim::client {

// Verifies against options.ca_file (PEM), or the system's trust store when it is empty; no
// chain verification when options.verify is false or the key is pinned (options.pin_file).
// Presents options.certificate_file when given. Fails with invalid_argument, naming the
// file, when the CA file cannot be loaded.
Result<std::shared_ptr<asio::ssl::context>> make_tls_context(const TlsOptions& options);

}  // namespace qim::client
