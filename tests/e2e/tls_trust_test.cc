// Trust without a public CA, and clients that must prove who they are: a certificate made by
// `qimd --generate-tls-cert` that qim trusts with --ca, trust on first use (`qim --pin`) that
// refuses a changed key, and client certificates (`--tls-client-ca`).
#include <csignal>

#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "tls_support.h"

namespace qim::e2e {
namespace {

CommandResult generate_certificate(const TempDir& dir, const std::string& name) {
  return run_command({qimd_path(), "--generate-tls-cert", dir.file(name + ".pem"),
                      dir.file(name + ".key"), "--tls-cert-host", "127.0.0.1", "--tls-cert-host",
                      "localhost"});
}

// qim logging in as `user` over TLS with its keys pinned in `pins`, then leaving.
CommandResult qim_pinned(const ServerProcess& server, const std::string& pins,
                         const std::string& user) {
  return run_command({qim_path(), "--server", server.address(), "--pin-file", pins, "--user", user,
                      "--password", test_password, "--no-reconnect", "--device", "pin-dev"});
}

}  // namespace

TEST_CASE(
    "a generated certificate is trusted with --ca, pinned with --pin, and a changed key "
    "is refused",
    "[e2e][tls][cli]") {
  TempDir dir;
  CommandResult generated = generate_certificate(dir, "node");
  INFO(generated.out << generated.err);
  REQUIRE(generated.exit_code == 0);
  CHECK(contains(generated.out, "qim --ca " + dir.file("node.pem")));
  CommandResult again = generate_certificate(dir, "node");
  CHECK(again.exit_code == 1);
  CHECK(contains(again.err, "exists"));

  ServerOptions server_options;
  server_options.extra_args = {"--tls-cert", dir.file("node.pem"), "--tls-key",
                               dir.file("node.key")};
  auto server = started_server(std::move(server_options));
  // The self-signed certificate is its own CA.
  auto trusting = tls_client_options(dir.file("node.pem"));
  register_user(*server, "erin", trusting);

  std::string pins = dir.file("home/.config/qim/known_servers");
  CommandResult first = qim_pinned(*server, pins, "erin");
  INFO(first.out << first.err);
  CHECK(first.exit_code == 0);
  CHECK(contains(first.err, "first connection to " + server->address()));
  CHECK(contains(read_file(pins), server->address() + " SHA256:"));
  CommandResult second = qim_pinned(*server, pins, "erin");
  INFO(second.out << second.err);
  CHECK(second.exit_code == 0);
  CHECK_FALSE(contains(second.err, "first connection"));

  // The node's key is replaced (as an attacker in the middle would present another).
  REQUIRE(generate_certificate(dir, "new").exit_code == 0);
  write_file(dir.file("node.pem"), read_file(dir.file("new.pem")));
  write_file(dir.file("node.key"), read_file(dir.file("new.key")));
  server->send_signal(SIGHUP);
  REQUIRE(log_shows(*server, "SIGHUP: new connections use"));
  CommandResult refused = qim_pinned(*server, pins, "erin");
  INFO(refused.out << refused.err);
  CHECK(refused.exit_code != 0);
  CHECK(contains(refused.out + refused.err, "CHANGED"));
  CHECK(contains(refused.out + refused.err, pins));
  CHECK_FALSE(contains(read_file(pins), read_file(dir.file("new.pem")).substr(30, 20)));

  // --pin and a CA are two ways to trust; qim takes one.
  CommandResult both = run_command(
      {qim_path(), "--server", server->address(), "--pin", "--ca", dir.file("new.pem")});
  CHECK(both.exit_code == 2);
  CHECK(contains(both.err, "not both"));
}

TEST_CASE("a node with a client CA admits only clients with a certificate it signed",
          "[e2e][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto server = tls_server(certificates, {"--tls-client-ca", certificates.ca});
  auto good =
      make_client_certificate(dir, "good-client", certificates.ca, dir.file("qim-test-ca.key"));
  auto foreign = make_client_certificate(dir, "foreign-client", certificates.other_ca,
                                         dir.file("qim-other-ca.key"));

  // The options of a client presenting `certificate` (none when null).
  auto presenting = [&](const ClientCertificate* certificate) {
    auto options = tls_client_options(certificates.ca);
    if (certificate != nullptr) {
      options.tls.certificate_file = certificate->certificate;
      options.tls.key_file = certificate->key;
    }
    return options;
  };
  // A client refused during or right after the handshake, and why.
  auto refusal = [&](const ClientCertificate* certificate) {
    auto client = std::make_unique<Client>(presenting(certificate));
    auto connected = client->connect(server->host(), server->port());
    REQUIRE_FALSE(connected.ok());
    INFO(connected.error().message);
    CHECK(connected.error().code == errc::auth_failed);
    return connected.error().message;
  };
  CHECK(contains(refusal(nullptr), "requires a client certificate"));
  CHECK(contains(refusal(&foreign), "refused this client's certificate"));

  auto options = presenting(&good);
  register_user(*server, "frank", options);
  auto frank = logged_in_client(*server, "frank", "dev-1", options);
  CHECK(frank->ping().ok());

  CommandResult cli =
      run_command({qim_path(), "--server", server->address(), "--ca", certificates.ca, "--cert",
                   good.certificate, "--key", good.key, "--user", "frank", "--password",
                   test_password, "--no-reconnect", "--device", "cli-frank"});
  INFO(cli.out << cli.err);
  CHECK(cli.exit_code == 0);

  CommandResult no_tls = run_command({qimd_path(), "--tls-client-ca", certificates.ca, "--data-dir",
                                      dir.file("unused"), "--check-config"});
  CHECK(no_tls.exit_code == 2);
  CHECK(contains(no_tls.err, "--tls-client-ca needs TLS"));
  CommandResult missing =
      run_command({qimd_path(), "--tls-cert", certificates.certificate, "--tls-key",
                   certificates.key, "--tls-client-ca", dir.file("absent.pem"), "--data-dir",
                   dir.file("unused"), "--check-config"});
  CHECK(missing.exit_code == 2);
  CHECK(contains(missing.err, "cannot read --tls-client-ca"));
}

}  // namespace qim::e2e
