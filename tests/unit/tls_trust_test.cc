// Trust without a CA: the self-signed certificate qimd generates, and the client's pins of
// server keys (trust on first use).
#include <catch2/catch.hpp>

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "client/server_pins.h"
#include "net/self_signed_certificate.h"
#include "net/tls_context.h"
#include "process.h"

namespace qim {
namespace {

using test_support::read_file;
using test_support::TempDir;
using test_support::write_file;

std::unique_ptr<X509, decltype(&X509_free)> load_certificate(const std::string& path) {
  std::unique_ptr<FILE, decltype(&std::fclose)> file(std::fopen(path.c_str(), "r"), &std::fclose);
  REQUIRE(file != nullptr);
  return {PEM_read_X509(file.get(), nullptr, nullptr, nullptr), &X509_free};
}

mode_t mode_of(const std::string& path) {
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  return status.st_mode & 0777;
}

}  // namespace

TEST_CASE("tls: a generated certificate names its hosts and loads with its key", "[tls]") {
  TempDir dir;
  net::SelfSignedRequest request{
      dir.file("node.pem"), dir.file("node.key"), {"chat.example.org", "127.0.0.1", "::1"}, 30};
  std::string error;
  REQUIRE(net::write_self_signed_certificate(request, error));
  INFO(error);
  CHECK(mode_of(request.key_file) == 0600);
  CHECK(mode_of(request.certificate_file) == 0644);

  auto certificate = load_certificate(request.certificate_file);
  REQUIRE(certificate != nullptr);
  CHECK(X509_check_host(certificate.get(), "chat.example.org", 0, 0, nullptr) == 1);
  CHECK(X509_check_host(certificate.get(), "other.example.org", 0, 0, nullptr) != 1);
  CHECK(X509_check_ip_asc(certificate.get(), "127.0.0.1", 0) == 1);
  CHECK(X509_check_ip_asc(certificate.get(), "::1", 0) == 1);
  CHECK(X509_check_ip_asc(certificate.get(), "10.0.0.1", 0) != 1);
  // Valid from about now for the days asked.
  CHECK(X509_cmp_current_time(X509_get0_notBefore(certificate.get())) < 0);
  CHECK(X509_cmp_time(X509_get0_notAfter(certificate.get()), nullptr) > 0);

  // It is what --tls-cert/--tls-key take: the key belongs to the certificate.
  auto context = net::TlsContext::load({request.certificate_file, request.key_file, ""}, error);
  CHECK(context != nullptr);
}

TEST_CASE("tls: certificate generation refuses bad hosts and existing files", "[tls]") {
  TempDir dir;
  std::string error;
  net::SelfSignedRequest bad_host{dir.file("a.pem"), dir.file("a.key"), {"not a host!"}, 30};
  CHECK_FALSE(net::write_self_signed_certificate(bad_host, error));
  CHECK(error.find("not a host!") != std::string::npos);
  CHECK_FALSE(std::ifstream(dir.file("a.key")).good());  // nothing written

  write_file(dir.file("b.key"), "precious\n");
  net::SelfSignedRequest existing{dir.file("b.pem"), dir.file("b.key"), {"localhost"}, 30};
  CHECK_FALSE(net::write_self_signed_certificate(existing, error));
  CHECK(error.find("b.key exists") != std::string::npos);
  CHECK(read_file(dir.file("b.key")) == "precious\n");

  net::SelfSignedRequest no_host{dir.file("c.pem"), dir.file("c.key"), {}, 30};
  CHECK_FALSE(net::write_self_signed_certificate(no_host, error));
  net::SelfSignedRequest too_long{dir.file("d.pem"), dir.file("d.key"), {"localhost"}, 100000};
  CHECK_FALSE(net::write_self_signed_certificate(too_long, error));

  auto hosts = net::default_certificate_hosts();
  CHECK(hosts.size() >= 3);
  CHECK(hosts[0] == "localhost");
}

TEST_CASE("tls: pin lines are found per address; a malformed line is reported", "[tls]") {
  std::string text = "# comment\n127.0.0.1:7700 SHA256:abc\n\n[::1]:7700   SHA256:def  \n";
  CHECK(client::find_pin(text, "127.0.0.1:7700").fingerprint == "SHA256:abc");
  CHECK(client::find_pin(text, "[::1]:7700").fingerprint == "SHA256:def");
  CHECK_FALSE(client::find_pin(text, "127.0.0.1:7710").fingerprint.has_value());
  CHECK(client::find_pin(text, "127.0.0.1:7710").malformed.empty());
  CHECK(client::find_pin("x:1 SHA256:a\nx:2 md5:zz\n", "x:1").malformed ==
        "line 2 is not 'host:port SHA256:...'");
  CHECK_FALSE(client::find_pin("x:1\n", "x:1").malformed.empty());
  CHECK(client::find_pin("", "x:1").malformed.empty());
  CHECK(client::pin_line("h:1", "SHA256:q") == "h:1 SHA256:q\n");
}

TEST_CASE("tls: a key is pinned on first use and a changed key is refused", "[tls]") {
  TempDir dir;
  std::string file = dir.file("config/qim/known_servers");  // directories made as needed
  std::vector<std::string> notices;
  client::ServerPins pins(file, [&](const std::string& address, const std::string& fingerprint) {
    notices.push_back(address + " " + fingerprint);
  });
  // Only addresses the user chose are trusted on first use.
  CHECK(pins.check("127.0.0.1:7700", "SHA256:first").code == errc::auth_failed);
  pins.allow_first_use(client::pin_address("127.0.0.1", 7700));
  pins.allow_first_use(client::pin_address("127.0.0.1", 7710));
  CHECK_FALSE(pins.check("127.0.0.1:7700", "SHA256:first"));
  REQUIRE(notices == std::vector<std::string>{"127.0.0.1:7700 SHA256:first"});
  CHECK_FALSE(pins.check("127.0.0.1:7700", "SHA256:first"));
  CHECK(notices.size() == 1);  // known: no second notice
  CHECK_FALSE(pins.check("127.0.0.1:7710", "SHA256:second"));
  CHECK(read_file(file) == "127.0.0.1:7700 SHA256:first\n127.0.0.1:7710 SHA256:second\n");

  Error changed = pins.check("127.0.0.1:7700", "SHA256:intruder");
  CHECK(changed.code == errc::auth_failed);
  CHECK(changed.message.find("CHANGED") != std::string::npos);
  CHECK(changed.message.find("SHA256:first") != std::string::npos);
  CHECK(changed.message.find("SHA256:intruder") != std::string::npos);
  CHECK(changed.message.find(file) != std::string::npos);
  CHECK(read_file(file).find("intruder") == std::string::npos);  // never recorded

  // A node the cluster named (not chosen by the user) is trusted only with a key already
  // pinned: a cluster sharing one certificate works, a stranger is refused and told how.
  CHECK_FALSE(pins.check("127.0.0.1:7720", "SHA256:second"));
  Error stranger = pins.check("127.0.0.1:7730", "SHA256:stranger");
  CHECK(stranger.code == errc::auth_failed);
  CHECK(stranger.message.find("qim --pin --server 127.0.0.1:7730") != std::string::npos);
  CHECK(read_file(file).find("7730") == std::string::npos);
  CHECK(client::pin_address("::1", 7700) == "[::1]:7700");

  // Another process's pins are seen: the file is read on every check.
  client::ServerPins other(file, nullptr);
  CHECK(other.check("127.0.0.1:7710", "SHA256:changed").code == errc::auth_failed);
  CHECK(other.check("h:1", "").code == errc::auth_failed);  // no certificate, nothing to pin

  write_file(file, "garbage\n");
  CHECK(pins.check("127.0.0.1:7700", "SHA256:first").code == errc::invalid_argument);
}

}  // namespace qim
