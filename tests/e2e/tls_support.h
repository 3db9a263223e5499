#pragma once
// Certificates for the TLS scenarios, made by the `openssl` command (tools/install-deps.sh
// --test installs it) in a test's own directory: a CA, a server certificate it signed for
// 127.0.0.1 and localhost, and a second CA that signed nothing the server holds.
#include <string>

#include "cluster_process.h"
#include "qim/client.h"

namespace qim::e2e {

struct TestCertificates {
  std::string ca;        // the CA that signed `certificate` (PEM)
  std::string other_ca;  // a CA unrelated to the server
  std::string certificate;
  std::string key;
  std::string other_key;  // a key that does not belong to `certificate`
};

// REQUIREs that openssl succeeded.
TestCertificates make_test_certificates(const TempDir& dir);

// A client certificate for `name` and its key, signed by the CA whose PEM certificate and key
// are `ca` and `ca_key` (for servers with --tls-client-ca).
struct ClientCertificate {
  std::string certificate;
  std::string key;
};
ClientCertificate make_client_certificate(const TempDir& dir, const std::string& name,
                                          const std::string& ca, const std::string& ca_key);

// qimd flags serving `certificates` on the client port.
std::vector<std::string> tls_server_args(const TestCertificates& certificates);

// A started qimd serving `certificates` on its client port, with `extra_args` as well.
std::unique_ptr<ServerProcess> tls_server(const TestCertificates& certificates,
                                          const std::vector<std::string>& extra_args = {});

// Polls the node's log for `line` until the event deadline.
bool log_shows(const ServerProcess& server, const std::string& line);

// test_client_options() speaking TLS and trusting `ca`.
ClientOptions tls_client_options(const std::string& ca);

}  // namespace qim::e2e
