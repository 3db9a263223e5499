// The server's TLS stream against OpenSSL as the client, over a socket pair: the handshake by
// OpenSSL, then records protected by the stream itself in every suite, in both directions, with
// blocked writes, key updates, close_notify and forged records.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "net/self_signed_certificate.h"
#include "net/tls_context.h"
#include "net/tls_records.h"
#include "net/tls_stream.h"
#include "process.h"

namespace qim {
namespace {

using net::TlsStatus;

std::shared_ptr<const net::TlsContext> server_context(const test_support::TempDir& dir) {
  net::SelfSignedRequest request{dir.file("s.pem"), dir.file("s.key"), {"localhost"}, 1};
  std::string error;
  REQUIRE(net::write_self_signed_certificate(request, error));
  auto context = net::TlsContext::load({request.certificate_file, request.key_file, ""}, error);
  REQUIRE(context != nullptr);
  return context;
}

// A connected pair: the stream on one end, an OpenSSL client on the other, handshake done.
struct Pair {
  Pair(const net::TlsContext& context, const char* suite) {
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    for (int fd : fds)
      ::fcntl(fd, F_SETFL, O_NONBLOCK);
    client_context = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(client_context, TLS1_3_VERSION);
    REQUIRE(SSL_CTX_set_ciphersuites(client_context, suite) == 1);
    client = SSL_new(client_context);
    SSL_set_fd(client, fds[1]);
    SSL_set_connect_state(client);
    std::string error;
    server = net::TlsStream::accept(context, fds[0], error);
    REQUIRE(server != nullptr);
    std::uint8_t buffer[64];
    for (int round = 0; round < 50 && !(SSL_is_init_finished(client) && server->own_records());
         ++round) {
      SSL_do_handshake(client);
      auto result = server->read(buffer, sizeof buffer);
      REQUIRE(result.status == TlsStatus::want_read);
    }
    REQUIRE(SSL_is_init_finished(client) == 1);
    REQUIRE(server->own_records());
  }
  ~Pair() {
    server.reset();
    SSL_free(client);
    SSL_CTX_free(client_context);
    ::close(fds[0]);
    ::close(fds[1]);
  }

  // Everything the client can read now.
  std::string client_reads() {
    std::string got;
    char buffer[4096];
    for (;;) {
      int count = SSL_read(client, buffer, sizeof buffer);
      if (count <= 0) break;
      got.append(buffer, static_cast<std::size_t>(count));
    }
    return got;
  }
  // Everything the server can read now.
  std::string server_reads() {
    std::string got;
    std::vector<std::uint8_t> buffer(64 * 1024);
    for (;;) {
      auto result = server->read(buffer.data(), buffer.size());
      if (result.status != TlsStatus::done) break;
      got.append(reinterpret_cast<const char*>(buffer.data()), result.bytes);
    }
    return got;
  }

  int fds[2] = {-1, -1};
  SSL_CTX* client_context = nullptr;
  SSL* client = nullptr;
  std::unique_ptr<net::TlsStream> server;
};

std::string random_text(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string text(size, '\0');
  for (char& c : text)
    c = static_cast<char>(random());
  return text;
}

}  // namespace

TEST_CASE("tls stream: after OpenSSL's handshake the stream protects records itself", "[tls]") {
  test_support::TempDir dir;
  auto context = server_context(dir);
  const char* suite =
      GENERATE("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256");
  INFO(suite);
  Pair pair(*context, suite);
  REQUIRE(SSL_write(pair.client, "hello", 5) == 5);
  CHECK(pair.server_reads() == "hello");
  auto written = pair.server->write(reinterpret_cast<const std::uint8_t*>("world"), 5);
  CHECK(written.status == TlsStatus::done);
  CHECK(written.bytes == 5);
  CHECK(pair.client_reads() == "world");

  // Key updates both ways: the client's, and the one it asks of the server.
  REQUIRE(SSL_key_update(pair.client, SSL_KEY_UPDATE_REQUESTED) == 1);
  REQUIRE(SSL_write(pair.client, "after update", 12) == 12);
  CHECK(pair.server_reads() == "after update");
  CHECK(pair.server->write(reinterpret_cast<const std::uint8_t*>("new keys"), 8).bytes == 8);
  CHECK(pair.client_reads() == "new keys");
  REQUIRE(SSL_write(pair.client, "again", 5) == 5);
  CHECK(pair.server_reads() == "again");

  // Data and close_notify in one segment: the data first, then the close.
  REQUIRE(SSL_write(pair.client, "last words", 10) == 10);
  REQUIRE(SSL_shutdown(pair.client) == 0);
  CHECK(pair.server_reads() == "last words");
  std::uint8_t after_close[16];
  CHECK(pair.server->read(after_close, sizeof after_close).status == TlsStatus::closed);

  // close_notify from the server.
  pair.server->close_notify();
  char byte;
  CHECK(SSL_read(pair.client, &byte, 1) == 0);
  CHECK(SSL_get_error(pair.client, 0) == SSL_ERROR_ZERO_RETURN);
}

TEST_CASE("tls stream: large transfers survive partial reads and blocked writes", "[tls]") {
  test_support::TempDir dir;
  auto context = server_context(dir);
  Pair pair(*context, "TLS_AES_128_GCM_SHA256");
  int small = 4096;
  ::setsockopt(pair.fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);

  // Server to client, 1 MiB: the socket fills, writes block and are repeated with the same
  // bytes, as the connection's writer does.
  std::string out = random_text(1 << 20, 1);
  std::string received;
  std::size_t offset = 0;
  int blocked = 0;
  for (int round = 0; round < 100000 && offset < out.size(); ++round) {
    auto result = pair.server->write(reinterpret_cast<const std::uint8_t*>(out.data()) + offset,
                                     out.size() - offset);
    if (result.status == TlsStatus::done) {
      offset += result.bytes;
    } else {
      REQUIRE(result.status == TlsStatus::want_write);
      ++blocked;
      received += pair.client_reads();
    }
  }
  received += pair.client_reads();
  CHECK(blocked > 0);
  CHECK(received.size() == out.size());
  CHECK(received == out);

  // Client to server, 1 MiB in writes of odd sizes, read in small pieces.
  std::string in = random_text(1 << 20, 2);
  std::string got;
  std::size_t sent = 0;
  std::uint8_t piece[1000];
  for (int round = 0; round < 100000 && got.size() < in.size(); ++round) {
    if (sent < in.size()) {
      int count = SSL_write(pair.client, in.data() + sent,
                            static_cast<int>(std::min<std::size_t>(7777, in.size() - sent)));
      if (count > 0) sent += static_cast<std::size_t>(count);
    }
    for (;;) {
      auto result = pair.server->read(piece, sizeof piece);
      if (result.status != TlsStatus::done) {
        REQUIRE(result.status == TlsStatus::want_read);
        break;
      }
      got.append(reinterpret_cast<const char*>(piece), result.bytes);
    }
  }
  CHECK(got == in);
}

TEST_CASE("tls stream: forged and unexpected records end the connection", "[tls]") {
  test_support::TempDir dir;
  auto context = server_context(dir);
  std::uint8_t buffer[64];
  SECTION("a record that fails authentication") {
    Pair pair(*context, "TLS_AES_128_GCM_SHA256");
    std::uint8_t forged[5 + 32] = {0x17, 0x03, 0x03, 0, 32};
    REQUIRE(::write(pair.fds[1], forged, sizeof forged) == sizeof forged);
    CHECK(pair.server->read(buffer, sizeof buffer).status == TlsStatus::failed);
    CHECK(pair.server->failure() == "bad record MAC");
  }
  SECTION("a plaintext handshake record after the handshake") {
    Pair pair(*context, "TLS_AES_128_GCM_SHA256");
    std::uint8_t record[] = {0x16, 0x03, 0x03, 0, 1, 0};
    REQUIRE(::write(pair.fds[1], record, sizeof record) == sizeof record);
    CHECK(pair.server->read(buffer, sizeof buffer).status == TlsStatus::failed);
    CHECK(pair.server->failure() == "unexpected record type");
  }
  SECTION("a good record, then a forged one in the same segment: the data, then the failure") {
    Pair pair(*context, "TLS_AES_128_GCM_SHA256");
    REQUIRE(SSL_write(pair.client, "genuine", 7) == 7);
    std::uint8_t forged[5 + 32] = {0x17, 0x03, 0x03, 0, 32};
    REQUIRE(::write(pair.fds[1], forged, sizeof forged) == sizeof forged);
    auto first = pair.server->read(buffer, sizeof buffer);
    REQUIRE(first.status == TlsStatus::done);
    CHECK(std::string(reinterpret_cast<char*>(buffer), first.bytes) == "genuine");
    CHECK(pair.server->has_buffered_input());
    CHECK(pair.server->read(buffer, sizeof buffer).status == TlsStatus::failed);
    CHECK(pair.server->failure() == "bad record MAC");
  }
  SECTION("a connection cut inside a record") {
    Pair pair(*context, "TLS_AES_128_GCM_SHA256");
    std::uint8_t header[] = {0x17, 0x03, 0x03, 0, 40, 1, 2, 3};
    REQUIRE(::write(pair.fds[1], header, sizeof header) == sizeof header);
    CHECK(pair.server->read(buffer, sizeof buffer).status == TlsStatus::want_read);
    ::shutdown(pair.fds[1], SHUT_WR);
    CHECK(pair.server->read(buffer, sizeof buffer).status == TlsStatus::failed);
  }
  SECTION("a record longer than the protocol allows") {
    Pair pair(*context, "TLS_AES_128_GCM_SHA256");
    std::uint8_t header[] = {0x17, 0x03, 0x03, 0x48, 0x01};
    REQUIRE(::write(pair.fds[1], header, sizeof header) == sizeof header);
    CHECK(pair.server->read(buffer, sizeof buffer).status == TlsStatus::failed);
    CHECK(pair.server->failure() == "record overflow");
  }
}

TEST_CASE("tls records: sealed records open once, in order, and not after tampering", "[tls]") {
  std::vector<std::uint8_t> secret(32, 7);
  net::TrafficKeys sender, receiver;
  REQUIRE(sender.init(net::TlsSuite::aes_128_gcm_sha256, secret));
  REQUIRE(receiver.init(net::TlsSuite::aes_128_gcm_sha256, secret));
  CHECK_FALSE(receiver.init(net::TlsSuite::aes_256_gcm_sha384, secret));  // needs 48 bytes
  REQUIRE(receiver.init(net::TlsSuite::aes_128_gcm_sha256, secret));
  std::string text = "hello";
  std::vector<std::uint8_t> record(text.size() + net::tls_record_overhead);
  std::size_t size = net::seal_record(
      sender, net::tls_application_data,
      {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, record.data());
  REQUIRE(size == record.size());
  CHECK(sender.sequence() == 1);
  auto copy = record;
  auto incomplete = net::open_record(receiver, {copy.data(), copy.size() - 1});
  CHECK(incomplete.status == net::OpenedRecord::Status::incomplete);
  auto opened = net::open_record(receiver, copy);
  REQUIRE(opened.status == net::OpenedRecord::Status::opened);
  CHECK(opened.type == net::tls_application_data);
  CHECK(std::string(opened.content.begin(), opened.content.end()) == "hello");
  // A replay is opened with the next sequence number's nonce, so it fails.
  copy = record;
  CHECK(net::open_record(receiver, copy).status == net::OpenedRecord::Status::bad);

  net::TrafficKeys fresh;
  REQUIRE(fresh.init(net::TlsSuite::aes_128_gcm_sha256, secret));
  copy = record;
  copy[7] ^= 1;
  CHECK(net::open_record(fresh, copy).status == net::OpenedRecord::Status::bad);

  // After a KeyUpdate on both sides, records flow again; one side alone cannot open them.
  net::TrafficKeys a, b, stale;
  REQUIRE(a.init(net::TlsSuite::chacha20_poly1305_sha256, secret));
  REQUIRE(b.init(net::TlsSuite::chacha20_poly1305_sha256, secret));
  REQUIRE(stale.init(net::TlsSuite::chacha20_poly1305_sha256, secret));
  REQUIRE(a.update());
  REQUIRE(b.update());
  size = net::seal_record(a, net::tls_alert, std::vector<std::uint8_t>{1, 0}, record.data());
  REQUIRE(size > 0);
  copy.assign(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(size));
  auto stale_copy = copy;
  auto updated = net::open_record(b, copy);
  REQUIRE(updated.status == net::OpenedRecord::Status::opened);
  CHECK(updated.type == net::tls_alert);
  CHECK(net::open_record(stale, stale_copy).status == net::OpenedRecord::Status::bad);

  CHECK(net::parse_key_update(std::vector<std::uint8_t>{24, 0, 0, 1, 1}).update_requested);
  CHECK(net::parse_key_update(std::vector<std::uint8_t>{24, 0, 0, 1, 0}).valid);
  // A KeyUpdate ends its record: two in one are refused.
  CHECK_FALSE(
      net::parse_key_update(std::vector<std::uint8_t>{24, 0, 0, 1, 0, 24, 0, 0, 1, 0}).valid);
  CHECK_FALSE(net::parse_key_update(std::vector<std::uint8_t>{24, 0, 0, 1, 2}).valid);
  CHECK_FALSE(net::parse_key_update(std::vector<std::uint8_t>{4, 0, 0, 1, 0}).valid);
  CHECK_FALSE(net::parse_key_update(std::vector<std::uint8_t>{}).valid);
  CHECK(net::tls_suite_of(0x1302) == net::TlsSuite::aes_256_gcm_sha384);
  CHECK_FALSE(net::tls_suite_of(0x1304).has_value());
}

}  // namespace qim
