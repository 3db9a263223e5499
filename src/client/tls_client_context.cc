#include "client/tls_client_context.h"

#include <fmt/core.h>

namespace qim::client {

Result<std::shared_ptr<asio::ssl::context>> make_tls_context(const TlsOptions& options) {
  auto context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_3_VERSION);
  std::error_code ec;
  if (!options.certificate_file.empty()) {
    context->use_certificate_chain_file(options.certificate_file, ec);
    if (ec) {
      return Error{errc::invalid_argument, fmt::format("cannot load the client certificate {}: {}",
                                                       options.certificate_file, ec.message())};
    }
    context->use_private_key_file(options.key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return Error{errc::invalid_argument,
                   fmt::format("cannot load the client key {} (the key of {}): {}",
                               options.key_file, options.certificate_file, ec.message())};
    }
  }
  // Pinned: the key is checked after the handshake (server_pins.h) instead of a chain.
  if (!options.verify || !options.pin_file.empty()) {
    context->set_verify_mode(asio::ssl::verify_none, ec);
    return context;
  }
  if (options.ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      return Error{errc::invalid_argument,
                   fmt::format("cannot load the system's trusted certificates: {}", ec.message())};
    }
  } else {
    context->load_verify_file(options.ca_file, ec);
    if (ec) {
      return Error{errc::invalid_argument, fmt::format("cannot load the CA certificate {}: {}",
                                                       options.ca_file, ec.message())};
    }
  }
  context->set_verify_mode(asio::ssl::verify_peer, ec);
  return context;
}

}  // namespace qim::client
