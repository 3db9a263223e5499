#include "tls_support.h"

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "e2e_support.h"

namespace qim::e2e {

namespace {

void run_openssl(const std::vector<std::string>& arguments) {
  INFO("the openssl command is needed (tools/install-deps.sh --test installs it)");
  REQUIRE(std::string(QIM_E2E_OPENSSL_PATH) != "");
  std::vector<std::string> argv = {QIM_E2E_OPENSSL_PATH};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  auto result = run_command(argv);
  INFO("openssl " << arguments.front() << ": " << result.err);
  REQUIRE(result.exit_code == 0);
}

void make_ca(const TempDir& dir, const std::string& name) {
  run_openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", dir.file(name + ".key"), "-out", dir.file(name + ".pem"), "-days", "2",
               "-subj", "/CN=" + name});
}

}  // namespace

TestCertificates make_test_certificates(const TempDir& dir) {
  make_ca(dir, "qim-test-ca");
  make_ca(dir, "qim-other-ca");
  run_openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
               dir.file("server.key"), "-out", dir.file("server.csr"), "-subj", "/CN=localhost"});
  write_file(dir.file("server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  run_openssl({"x509", "-req", "-in", dir.file("server.csr"), "-CA", dir.file("qim-test-ca.pem"),
               "-CAkey", dir.file("qim-test-ca.key"), "-CAcreateserial", "-out",
               dir.file("server.pem"), "-days", "2", "-extfile", dir.file("server.ext")});
  return {dir.file("qim-test-ca.pem"), dir.file("qim-other-ca.pem"), dir.file("server.pem"),
          dir.file("server.key"), dir.file("qim-other-ca.key")};
}

ClientCertificate make_client_certificate(const TempDir& dir, const std::string& name,
                                          const std::string& ca, const std::string& ca_key) {
  ClientCertificate made{dir.file(name + ".pem"), dir.file(name + ".key")};
  run_openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
               made.key, "-out", dir.file(name + ".csr"), "-subj", "/CN=" + name});
  write_file(dir.file(name + ".ext"), "extendedKeyUsage=clientAuth\n");
  run_openssl({"x509", "-req", "-in", dir.file(name + ".csr"), "-CA", ca, "-CAkey", ca_key,
               "-CAcreateserial", "-out", made.certificate, "-days", "2", "-extfile",
               dir.file(name + ".ext")});
  return made;
}

std::vector<std::string> tls_server_args(const TestCertificates& certificates) {
  return {"--tls-cert", certificates.certificate, "--tls-key", certificates.key};
}

std::unique_ptr<ServerProcess> tls_server(const TestCertificates& certificates,
                                          const std::vector<std::string>& extra_args) {
  ServerOptions options;
  options.extra_args = tls_server_args(certificates);
  options.extra_args.insert(options.extra_args.end(), extra_args.begin(), extra_args.end());
  return started_server(std::move(options));
}

bool log_shows(const ServerProcess& server, const std::string& line) {
  auto deadline = std::chrono::steady_clock::now() + event_timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (contains(server.log_text(), line)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

ClientOptions tls_client_options(const std::string& ca) {
  ClientOptions options = test_client_options();
  options.tls.enabled = true;
  options.tls.ca_file = ca;
  return options;
}

}  // namespace qim::e2e
