#include "tls_support.h"

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

std::vector<std::string> tls_server_args(const TestCertificates& certificates) {
  return {"--tls-cert", certificates.certificate, "--tls-key", certificates.key};
}

ClientOptions tls_client_options(const std::string& ca) {
  ClientOptions options = test_client_options();
  options.tls.enabled = true;
  options.tls.ca_file = ca;
  return options;
}

}  // namespace qim::e2e
