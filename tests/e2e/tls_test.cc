// TLS 1.3 on the client port: clients log in and chat through it, a plaintext client is told
// so and closed, a certificate that is not trusted is refused, bad certificate files stop
// qimd with a clear message, and SIGHUP reloads the certificate.
#include <csignal>
#include <map>
#include <thread>

#include <catch2/catch.hpp>

#include "cluster_support.h"
#include "e2e_support.h"
#include "tls_support.h"

namespace qim::e2e {

TEST_CASE("clients log in and chat over TLS 1.3", "[e2e][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto server = tls_server(certificates);
  CHECK(log_shows(*server, "(TLS 1.3;"));  // the listening line may follow the port file
  auto options = tls_client_options(certificates.ca);
  register_user(*server, "alice", options);
  register_user(*server, "bob", options);
  auto alice = logged_in_client(*server, "alice", "dev-1", options);
  auto bob = logged_in_client(*server, "bob", "dev-1", options);
  make_friends(*alice, *bob);

  // A body larger than one TLS record (16 KiB) crosses in several.
  std::string long_body(15'000, 'x');
  long_body += "-end";
  REQUIRE(alice->send_to_user("bob", "hello over TLS").ok());
  REQUIRE(alice->send_to_user("bob", long_body).ok());
  auto first = next_message(*bob, "d:alice:bob");
  REQUIRE(first);
  CHECK(first->body == "hello over TLS");
  auto second = next_message(*bob, "d:alice:bob");
  REQUIRE(second);
  CHECK(second->body == long_body);

  // Names as well as addresses are verified: the certificate holds localhost too.
  auto by_name = std::make_unique<Client>(options);
  auto info = by_name->connect("localhost", server->port());
  INFO("connect localhost: " << (info ? std::string() : info.error().message));
  CHECK(info.ok());
}

TEST_CASE("redirects between TLS nodes keep TLS", "[e2e][tls][cluster]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto key_file = generated_cluster_key(dir.file("cluster.key"));
  auto tls = tls_server_args(certificates);
  auto n1 = start_node("t1", key_file, nullptr, "anyone", tls);
  auto n2 = start_node("t2", key_file, n1.get(), "anyone", tls);
  REQUIRE(wait_replicated(*n1, 2));
  auto options = tls_client_options(certificates.ca);

  // Through t1 only: users homed on t2 are redirected there, and log in over TLS again.
  std::map<std::string, std::string> homes;
  for (int index = 0; index < 16 && homes.size() < 2; ++index) {
    std::string user = "tls" + std::to_string(index);
    register_user(*n1, user, options);
    auto client = connected_client(*n1, options);
    auto login = client->login(user, test_password, "dev-1");
    INFO(user << ": " << (login ? std::string() : login.error().message));
    REQUIRE(login.ok());
    homes.emplace(login->node, user);
  }
  REQUIRE(homes.size() == 2);
  auto on_t1 = logged_in_client(*n1, homes["t1"], "dev-2", options);
  auto on_t2 = logged_in_client(*n1, homes["t2"], "dev-2", options);
  REQUIRE(on_t1->send_to_user(homes["t2"], "across nodes over TLS").ok());
  auto got = next_message(*on_t2);
  REQUIRE(got);
  CHECK(got->body == "across nodes over TLS");
}

TEST_CASE("a plaintext client on a TLS port is told so and closed", "[e2e][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto server = tls_server(certificates);

  RawConnection raw(server->port());
  REQUIRE(raw.ok());
  REQUIRE(raw.send_frame(hello_frame(1)));
  auto reply = raw.read_frame();
  REQUIRE(reply.status == RawConnection::ReadStatus::frame);
  CHECK(error_code(reply) == errc::unsupported_version);
  CHECK(raw.wait_closed());

  auto plain = std::make_unique<Client>(test_client_options());
  auto info = plain->connect(server->host(), server->port());
  REQUIRE_FALSE(info.ok());
  CHECK(info.error().code == errc::unsupported_version);
  CHECK(contains(info.error().message, "TLS"));
}

TEST_CASE("a TLS client refuses an untrusted certificate and a plaintext port", "[e2e][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto server = tls_server(certificates);

  auto wrong_ca = std::make_unique<Client>(tls_client_options(certificates.other_ca));
  auto refused = wrong_ca->connect(server->host(), server->port());
  REQUIRE_FALSE(refused.ok());
  CHECK(contains(refused.error().message, "not trusted"));

  // Without verification (tests only) the same certificate is accepted.
  auto options = tls_client_options("");
  options.tls.verify = false;
  auto unverified = std::make_unique<Client>(options);
  CHECK(unverified->connect(server->host(), server->port()).ok());

  auto plain_server = started_server();
  auto to_plain = std::make_unique<Client>(tls_client_options(certificates.ca));
  auto failed = to_plain->connect(plain_server->host(), plain_server->port());
  REQUIRE_FALSE(failed.ok());
  CHECK(contains(failed.error().message, "TLS handshake"));
}

TEST_CASE("qimd refuses bad TLS files and plaintext beyond loopback", "[e2e][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto check = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = {qimd_path(), "--check-config"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  };
  auto missing = check({"--tls-cert", dir.file("absent.pem"), "--tls-key", certificates.key});
  CHECK(missing.exit_code == 2);
  CHECK(contains(missing.err, "cannot read --tls-cert " + dir.file("absent.pem")));
  auto not_pem = check({"--tls-cert", dir.file("server.ext"), "--tls-key", certificates.key});
  CHECK(not_pem.exit_code == 2);
  CHECK(contains(not_pem.err, "holds no usable PEM certificate"));
  auto mismatch =
      check({"--tls-cert", certificates.certificate, "--tls-key", certificates.other_key});
  CHECK(mismatch.exit_code == 2);
  CHECK(contains(mismatch.err, "does not belong to the certificate"));
  auto half = check({"--tls-cert", certificates.certificate});
  CHECK(half.exit_code == 2);
  CHECK(contains(half.err, "go together"));
  auto exposed = check({"--listen", "0.0.0.0:7700"});
  CHECK(exposed.exit_code == 2);
  CHECK(contains(exposed.err, "not a loopback address"));
  CHECK(check({"--listen", "0.0.0.0:7700", "--insecure-listen"}).exit_code == 0);
  // The admin and HTTP ports never speak TLS: beyond loopback only when told.
  for (const char* flag : {"--admin-listen", "--http-listen"}) {
    auto open_port = check({flag, "0.0.0.0:7790"});
    CHECK(open_port.exit_code == 2);
    CHECK(contains(open_port.err, std::string(flag) + " 0.0.0.0:7790 is not a loopback address"));
    CHECK(check({flag, "0.0.0.0:7790", "--insecure-listen"}).exit_code == 0);
  }
  CHECK(check({"--listen", "0.0.0.0:7700", "--tls-cert", certificates.certificate, "--tls-key",
               certificates.key})
            .exit_code == 0);
}

TEST_CASE("SIGHUP reloads the certificate and keeps the old one when the new is bad",
          "[e2e][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  // The server reads copies, which the test then replaces.
  std::string certificate = dir.file("live.pem");
  std::string key = dir.file("live.key");
  write_file(certificate, read_file(certificates.certificate));
  write_file(key, read_file(certificates.key));
  ServerOptions server_options;
  server_options.extra_args = {"--tls-cert", certificate, "--tls-key", key};
  auto server = started_server(std::move(server_options));
  auto options = tls_client_options(certificates.ca);
  auto before = std::make_unique<Client>(options);
  REQUIRE(before->connect(server->host(), server->port()).ok());

  write_file(certificate, "not a certificate\n");
  server->send_signal(SIGHUP);
  REQUIRE(log_shows(*server, "SIGHUP: keeping the current certificate"));
  auto still = std::make_unique<Client>(options);
  CHECK(still->connect(server->host(), server->port()).ok());

  write_file(certificate, read_file(certificates.certificate));
  server->send_signal(SIGHUP);
  REQUIRE(log_shows(*server, "SIGHUP: new connections use"));
  auto after = std::make_unique<Client>(options);
  CHECK(after->connect(server->host(), server->port()).ok());
  CHECK(before->ping().ok());  // the open connection went on meanwhile
}

TEST_CASE("qim chats over TLS with --ca", "[e2e][tls][cli]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto server = tls_server(certificates);
  auto options = tls_client_options(certificates.ca);
  register_user(*server, "carol", options);
  register_user(*server, "dave", options);
  {
    auto carol = logged_in_client(*server, "carol", "dev-1", options);
    auto dave = logged_in_client(*server, "dave", "dev-1", options);
    make_friends(*carol, *dave);
  }
  auto dave = logged_in_client(*server, "dave", "dev-2", options);
  write_file(dir.file("carol.in"), "login carol " + std::string(test_password) +
                                       "\nsend -r dave -m hi over tls\nwait msg from=dave\n:q\n");
  ChildProcess carol;
  std::string error;
  REQUIRE(carol.start({qim_path(), "--server", server->address(), "--ca", certificates.ca,
                       "--device", "cli-carol", "--no-reconnect", "--timeout-ms", "15000"},
                      dir.file("carol.in"), dir.file("carol.out"), error));
  auto got = next_message(*dave, "d:carol:dave");
  REQUIRE(got);
  CHECK(got->body == "hi over tls");
  REQUIRE(dave->send_to_user("carol", "hi back").ok());
  auto exit_code = carol.wait(std::chrono::seconds(60));
  std::string output = read_file(dir.file("carol.out"));
  INFO(output);
  CHECK(exit_code == 0);
  CHECK(contains(output, "from=dave text=hi back"));

  // The same without --ca: the test CA is not in the system's store.
  auto refused = run_command({qim_path(), "--server", server->address(), "--tls", "--user", "carol",
                              "--password", test_password, "--no-reconnect"});
  CHECK(refused.exit_code != 0);
  CHECK(contains(refused.out + refused.err, "not trusted"));
}

}  // namespace qim::e2e
