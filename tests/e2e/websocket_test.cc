// The WebSocket endpoint (qimd --ws-listen) with a real qimd on loopback: WebSocket and native
// clients chat; refusals carry the HTTP status or close code that says why; wss:// uses the
// client port's certificate; the browser client's files are served without leaving the root.
#include <cstring>
#include <filesystem>
#include <regex>

#include <httplib.h>
#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "proto/frame.h"
#include "qim/ids.h"
#include "tls_support.h"
#include "ws_test_client.h"

namespace qim::e2e {
namespace {

using test::WsConnectOptions;
using test::WsTestClient;
using Frame = WsTestClient::Frame;

constexpr auto wait = std::chrono::seconds(15);

std::unique_ptr<ServerProcess> ws_server(std::vector<std::string> args = {},
                                         std::string dm_policy = "anyone") {
  ServerOptions options;
  options.dm_policy = std::move(dm_policy);
  options.extra_args = {"--ws-listen", "127.0.0.1:0"};
  options.extra_args.insert(options.extra_args.end(), args.begin(), args.end());
  return started_server(std::move(options));
}

// The "<name> <port>" line of the node's port file.
std::uint16_t listed_port(const ServerProcess& server, const std::string& name) {
  std::string text = read_file(server.port_file());
  std::smatch match;
  const std::regex line("\n" + name + " ([0-9]+)\n");
  REQUIRE(std::regex_search(text, match, line));
  return static_cast<std::uint16_t>(std::stoi(match[1]));
}

std::unique_ptr<WsTestClient> ws_connect(const ServerProcess& server, std::string ca = {}) {
  auto client = std::make_unique<WsTestClient>();
  std::string error;
  WsConnectOptions options;
  options.port = listed_port(server, "ws");
  options.ca_file = std::move(ca);
  bool connected = client->connect(options, error);
  INFO(error);
  REQUIRE(connected);
  return client;
}

std::unique_ptr<WsTestClient> ws_open(const ServerProcess& server, std::string ca = {}) {
  auto client = ws_connect(server, std::move(ca));
  REQUIRE(client->upgrade() == 101);
  return client;
}

// A native frame's payload: what one binary WebSocket message carries.
std::vector<std::uint8_t> payload_of(const std::vector<std::uint8_t>& frame) {
  return {frame.begin() + proto::frame_header_bytes, frame.end()};
}

// A verified Envelope read from the next binary message.
struct Reply {
  std::vector<std::uint64_t> storage;
  const wire::Envelope* envelope = nullptr;
};
Reply decode_envelope(const std::optional<std::vector<std::uint8_t>>& message) {
  Reply reply;
  if (!message) return reply;
  reply.storage.resize((message->size() + 7) / 8);
  std::memcpy(reply.storage.data(), message->data(), message->size());
  Error error;
  reply.envelope = proto::verify_envelope(
      {reinterpret_cast<const std::uint8_t*>(reply.storage.data()), message->size()}, error);
  return reply;
}

Reply read_envelope(WsTestClient& client) {
  return decode_envelope(client.read_message(wait));
}

// Reads envelopes until one with `type`.
Reply read_until(WsTestClient& client, wire::Body type) {
  for (;;) {
    Reply reply = read_envelope(client);
    if (!reply.envelope || reply.envelope->body_type() == type) return reply;
  }
}

std::vector<std::uint8_t> register_frame(std::uint32_t req_id, const std::string& user,
                                         const std::string& password) {
  proto::FrameBuilder builder;
  auto& fbb = builder.fbb();
  auto user_offset = fbb.CreateString(user);
  auto password_offset = fbb.CreateString(password);
  auto bytes = builder.finish(req_id, wire::CreateRegister(fbb, user_offset, password_offset));
  return {bytes.begin(), bytes.end()};
}

void ws_hello(WsTestClient& client) {
  REQUIRE(client.send_message(payload_of(hello_frame(1))));
  Reply reply = read_envelope(client);
  REQUIRE(reply.envelope);
  REQUIRE(reply.envelope->body_type() == wire::Body::HelloOk);
}

void ws_login(WsTestClient& client, const std::string& user) {
  REQUIRE(client.send_message(payload_of(login_frame(2, user, test_password, "web-1"))));
  Reply reply = read_envelope(client);
  REQUIRE(reply.envelope);
  REQUIRE(reply.envelope->body_type() == wire::Body::LoginOk);
}

std::string metrics(const ServerProcess& server) {
  httplib::Client client("127.0.0.1", listed_port(server, "http"));
  client.set_read_timeout(10, 0);
  auto result = client.Get("/metrics");
  return result ? result->body : std::string();
}

}  // namespace

TEST_CASE("a WebSocket client registers, logs in and chats with a native client",
          "[e2e][websocket]") {
  auto server = ws_server();
  auto web = ws_open(*server);
  ws_hello(*web);
  REQUIRE(web->send_message(payload_of(register_frame(3, "webby", test_password))));
  Reply registered = read_envelope(*web);
  REQUIRE(registered.envelope);
  CHECK(registered.envelope->body_type() != wire::Body::Error);
  ws_login(*web, "webby");

  register_user(*server, "alice");
  auto alice = logged_in_client(*server, "alice");

  REQUIRE(web->send_message(payload_of(send_frame(4, "alice", "hello from the web", 1))));
  Reply ack = read_until(*web, wire::Body::SendAck);
  REQUIRE(ack.envelope);
  auto got = next_message(*alice, direct_conversation("alice", "webby"));
  REQUIRE(got);
  CHECK(got->body == "hello from the web");

  REQUIRE(alice->send_to_user("webby", "hello, browser").ok());
  Reply pushed = read_until(*web, wire::Body::Deliver);
  REQUIRE(pushed.envelope);
  const auto* body = pushed.envelope->body_as_Deliver()->message()->body();
  CHECK(std::string(body->begin(), body->end()) == "hello, browser");

  // A message in three fragments with a ping between them is one Envelope.
  auto frame = payload_of(send_frame(5, "alice", "in pieces", 2));
  std::span<const std::uint8_t> all(frame);
  REQUIRE(web->send_bytes(test::ws_client_frame(0x2, all.first(5), false)));
  REQUIRE(web->send_bytes(test::ws_client_frame(0x9, std::vector<std::uint8_t>{'p', 'i'})));
  REQUIRE(web->send_bytes(test::ws_client_frame(0x0, all.subspan(5, 10), false)));
  REQUIRE(web->send_bytes(test::ws_client_frame(0x0, all.subspan(15))));
  Frame pong = web->read_frame(wait);
  REQUIRE(pong.status == Frame::Status::frame);
  CHECK(pong.opcode == 0xA);
  CHECK(pong.payload == std::vector<std::uint8_t>{'p', 'i'});
  REQUIRE(read_until(*web, wire::Body::SendAck).envelope);
  auto second = next_message(*alice, direct_conversation("alice", "webby"));
  REQUIRE(second);
  CHECK(second->body == "in pieces");

  std::string text = metrics(*server);
  CHECK(contains(text, "qim_client_connections{transport=\"ws\"} 1"));

  // Shutdown: the WebSocket is told the node is going away.
  REQUIRE(server->stop());
  CHECK(web->read_close(wait) == 1001);
}

TEST_CASE("the WebSocket port refuses with a status or close code that says why",
          "[e2e][websocket]") {
  auto server = ws_server(
      {"--max-frame-bytes", "8192", "--max-body-bytes", "4096", "--idle-timeout-ms", "1500"});

  SECTION("an Origin that is not allowed: 403") {
    auto client = ws_connect(*server);
    CHECK(client->upgrade("/ws", "https://evil.example") == 403);
    CHECK(contains(client->response_body(), "not allowed"));
    CHECK(client->wait_closed(wait));
  }
  SECTION("the port's own origin is allowed") {
    auto client = ws_connect(*server);
    CHECK(client->upgrade("/ws",
                          "http://127.0.0.1:" + std::to_string(listed_port(*server, "ws"))) == 101);
  }
  SECTION("no upgrade on /ws: 426; another path: 404") {
    auto client = ws_connect(*server);
    CHECK(client->http("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n") == 426);
    auto other = ws_connect(*server);
    CHECK(other->http("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n") == 404);
  }
  SECTION("malformed and oversized requests: 400 and 431") {
    auto client = ws_connect(*server);
    CHECK(client->http("GARBAGE\r\n\r\n") == 400);
    auto big = ws_connect(*server);
    CHECK(big->http("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n") == 431);
  }
  SECTION("a message over --max-frame-bytes: 1009") {
    auto client = ws_open(*server);
    REQUIRE(client->send_message(std::vector<std::uint8_t>(9000, 7)));
    CHECK(client->read_close(wait) == 1009);
    CHECK(client->wait_closed(wait));
  }
  SECTION("a text message: 1003") {
    auto client = ws_open(*server);
    std::string text = "{\"login\":\"alice\"}";
    REQUIRE(client->send_bytes(test::ws_client_frame(
        0x1, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()})));
    CHECK(client->read_close(wait) == 1003);
  }
  SECTION("an unmasked frame: 1002") {
    auto client = ws_open(*server);
    REQUIRE(client->send_bytes(
        test::ws_client_frame(0x2, payload_of(hello_frame(1)), true, /*masked=*/false)));
    CHECK(client->read_close(wait) == 1002);
  }
  SECTION("a malformed Envelope gets the native Error, then a close") {
    auto client = ws_open(*server);
    REQUIRE(client->send_message(std::vector<std::uint8_t>(40, 0xA5)));
    Reply reply = read_envelope(*client);
    REQUIRE(reply.envelope);
    CHECK(reply.envelope->body_type() == wire::Body::Error);
  }
  SECTION("silence: IdleTimeout, then a close; Pings keep a connection open") {
    auto quiet = ws_open(*server);
    auto chatty = ws_open(*server);
    ws_hello(*chatty);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);
    std::uint32_t req_id = 10;
    std::optional<std::vector<std::uint8_t>> idle_message;
    // A Ping at most every 300 ms (the client's cadence), paced by waiting on the connections:
    // the quiet one until its IdleTimeout arrives, then the chatty one, which must get nothing
    // it did not ask for.
    while (std::chrono::steady_clock::now() < deadline) {
      proto::FrameBuilder builder;
      auto bytes = builder.finish(req_id++, wire::CreatePing(builder.fbb()));
      REQUIRE(chatty->send_message(payload_of({bytes.begin(), bytes.end()})));
      REQUIRE(read_until(*chatty, wire::Body::Pong).envelope);
      if (!idle_message) {
        idle_message = quiet->read_message(std::chrono::milliseconds(300));
      } else {
        CHECK(!chatty->read_message(std::chrono::milliseconds(300)));
      }
    }
    if (!idle_message) idle_message = quiet->read_message(wait);
    Reply idle = decode_envelope(idle_message);
    REQUIRE(idle.envelope);
    REQUIRE(idle.envelope->body_type() == wire::Body::Error);
    CHECK(proto::from_wire(idle.envelope->body_as_Error()->code()) == errc::idle_timeout);
    CHECK(quiet->read_close(wait) == 1008);
    proto::FrameBuilder builder;
    auto bytes = builder.finish(req_id, wire::CreatePing(builder.fbb()));
    REQUIRE(chatty->send_message(payload_of({bytes.begin(), bytes.end()})));
    CHECK(read_until(*chatty, wire::Body::Pong).envelope);
  }
}

TEST_CASE("the WebSocket port serves the browser client's files and nothing else",
          "[e2e][websocket]") {
  TempDir dir;
  std::string root = dir.file("web");
  std::filesystem::create_directories(root + "/assets");
  write_file(root + "/index.html", "<!doctype html><title>qim</title>");
  write_file(root + "/assets/app.js", "console.log('qim');");
  write_file(dir.file("secret.txt"), "not for the web");
  write_file(root + "/notes.md", "no such type");
  std::filesystem::create_symlink(dir.file("secret.txt"), root + "/leak.txt");
  auto server = ws_server({"--web-root", root});

  auto get = [&](const std::string& request) {
    auto client = ws_connect(*server);
    int status = client->http(request);
    return std::make_pair(status, client->response_body());
  };
  auto index = get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(index.first == 200);
  CHECK(index.second == "<!doctype html><title>qim</title>");
  auto client = ws_connect(*server);
  REQUIRE(client->http("GET /assets/app.js HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
  CHECK(client->response_header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(client->response_header("Cache-Control").has_value());
  CHECK(client->response_body() == "console.log('qim');");
  auto head = ws_connect(*server);
  REQUIRE(head->http("HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n") == 200);
  CHECK(head->response_body().empty());

  CHECK(get("GET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n").first == 400);
  CHECK(get("GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n").first == 400);
  CHECK(get("GET /assets%2f..%2f..%2fsecret.txt HTTP/1.1\r\nHost: x\r\n\r\n").first == 400);
  CHECK(get("GET /leak.txt HTTP/1.1\r\nHost: x\r\n\r\n").first == 404);  // a link out of the root
  CHECK(get("GET /notes.md HTTP/1.1\r\nHost: x\r\n\r\n").first == 404);  // not a served type
  CHECK(get("GET /missing.js HTTP/1.1\r\nHost: x\r\n\r\n").first == 404);
  CHECK(get("POST / HTTP/1.1\r\nHost: x\r\n\r\n").first == 405);

  // The WebSocket path stays a WebSocket next to the files.
  auto web = ws_open(*server);
  ws_hello(*web);

  // Without --web-root: 404 with a hint.
  auto bare = ws_server();
  auto hint = ws_connect(*bare);
  CHECK(hint->http("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == 404);
  CHECK(contains(hint->response_body(), "--web-root"));
}

TEST_CASE("wss:// speaks TLS with the client port's certificate", "[e2e][websocket][tls]") {
  TempDir dir;
  auto certificates = make_test_certificates(dir);
  auto server = ws_server(tls_server_args(certificates));
  auto web = ws_open(*server, certificates.ca);
  ws_hello(*web);
  register_user(*server, "alice", tls_client_options(certificates.ca));
  auto alice = logged_in_client(*server, "alice", "dev-1", tls_client_options(certificates.ca));
  register_user(*server, "webby", tls_client_options(certificates.ca));
  ws_login(*web, "webby");
  REQUIRE(alice->send_to_user("webby", "over wss").ok());
  Reply pushed = read_until(*web, wire::Body::Deliver);
  REQUIRE(pushed.envelope);
  CHECK(contains(metrics(*server), "qim_client_connections{transport=\"wss\"} 1"));

  // Plaintext HTTP on the wss port is told, in plaintext, to use TLS.
  auto plain = ws_connect(*server);
  CHECK(plain->upgrade() == 400);
  CHECK(contains(plain->response_body(), "wss://"));
}

TEST_CASE("qimd refuses a plaintext WebSocket port beyond loopback", "[e2e][websocket]") {
  auto check = [](std::vector<std::string> args) {
    std::vector<std::string> argv = {qimd_path(), "--check-config"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  };
  auto exposed = check({"--ws-listen", "0.0.0.0:7780"});
  CHECK(exposed.exit_code == 2);
  CHECK(contains(exposed.err, "--ws-listen 0.0.0.0:7780 is not a loopback address"));
  CHECK(check({"--ws-listen", "0.0.0.0:7780", "--insecure-listen"}).exit_code == 0);
  CHECK(check({"--ws-listen", "127.0.0.1:7780"}).exit_code == 0);
  auto no_port = check({"--web-root", "/tmp"});
  CHECK(no_port.exit_code == 2);
  CHECK(contains(no_port.err, "--web-root needs --ws-listen"));
  auto bad_origin = check({"--ws-listen", "127.0.0.1:7780", "--ws-allowed-origin", "chat.example"});
  CHECK(bad_origin.exit_code == 2);
  CHECK(contains(bad_origin.err, "--ws-allowed-origin must be"));
}

}  // namespace qim::e2e
