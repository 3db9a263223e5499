// The WebSocket port's deterministic parts: the HTTP request parser, what each request is
// answered with, static path normalisation, and the frame decoder fed whole, byte by byte and
// broken.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "net/http_request.h"
#include "net/web_files.h"
#include "net/ws_frame.h"
#include "net/ws_handshake.h"
#include "ws_test_client.h"

using namespace qim::net;
using qim::test::ws_client_frame;

namespace {

const std::string upgrade_request =
    "GET /ws HTTP/1.1\r\nHost: chat.example.com:8443\r\nUpgrade: websocket\r\n"
    "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

HttpDecision decide(const std::string& text, const WsPolicy& policy = {}) {
  HttpRequest request;
  HttpParseResult parsed = parse_http_request(text, request);
  REQUIRE(parsed.status == HttpParseStatus::complete);
  return decide_http(request, policy);
}

std::vector<std::uint8_t> bytes(std::string_view text) {
  return {text.begin(), text.end()};
}

// Feeds `input` in pieces of `step` bytes and collects every event but need_more.
struct Collected {
  std::vector<std::string> messages;
  std::vector<WsEvent::Kind> kinds;
  std::uint16_t code = 0;
};
Collected feed(WsDecoder& decoder, std::vector<std::uint8_t> input, std::size_t step) {
  Collected out;
  for (std::size_t at = 0; at < input.size(); at += step) {
    std::span<std::uint8_t> piece(input.data() + at, std::min(step, input.size() - at));
    for (;;) {
      WsEvent event = decoder.next(piece);
      if (event.kind == WsEvent::Kind::need_more) break;
      out.kinds.push_back(event.kind);
      if (event.kind == WsEvent::Kind::message || event.kind == WsEvent::Kind::ping) {
        out.messages.emplace_back(event.payload.begin(), event.payload.end());
      }
      if (event.kind == WsEvent::Kind::close || event.kind == WsEvent::Kind::fail) {
        out.code = event.code;
        return out;
      }
    }
  }
  return out;
}

std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& part : parts)
    out.insert(out.end(), part.begin(), part.end());
  return out;
}

}  // namespace

TEST_CASE("the Sec-WebSocket-Accept of RFC 6455's example", "[unit][ws]") {
  CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("HTTP requests parse within their limits", "[unit][ws]") {
  HttpRequest request;
  CHECK(parse_http_request("GET /ws HTTP/1.1\r\nHost: x\r\n", request).status ==
        HttpParseStatus::incomplete);
  const std::string pipelined = upgrade_request + "\r\nrest";  // views point into it
  auto parsed = parse_http_request(pipelined, request);
  REQUIRE(parsed.status == HttpParseStatus::complete);
  CHECK(parsed.consumed == upgrade_request.size() + 2);
  CHECK(request.method == "GET");
  CHECK(request.target == "/ws");
  CHECK(request.header("sec-websocket-version") == "13");
  CHECK(http_has_token(*request.header("Connection"), "upgrade"));

  CHECK(parse_http_request("\x16\x03\x01", request).status == HttpParseStatus::malformed);
  CHECK(parse_http_request("GET /\r\n\r\n", request).status == HttpParseStatus::malformed);
  CHECK(parse_http_request("GET http://x/ HTTP/1.1\r\n\r\n", request).status ==
        HttpParseStatus::malformed);
  CHECK(parse_http_request("GET / HTTP/2\r\n\r\n", request).status == HttpParseStatus::malformed);
  CHECK(parse_http_request("GET / HTTP/1.1\r\nNoColon\r\n\r\n", request).status ==
        HttpParseStatus::malformed);
  CHECK(parse_http_request("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", request).status ==
        HttpParseStatus::malformed);
  CHECK(parse_http_request(std::string("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n"), request).status ==
        HttpParseStatus::malformed);

  std::string many = "GET / HTTP/1.1\r\n";
  for (int index = 0; index < 65; ++index)
    many += "X-" + std::to_string(index) + ": y\r\n";
  CHECK(parse_http_request(many + "\r\n", request).status == HttpParseStatus::too_large);
  std::string huge = "GET / HTTP/1.1\r\nX: " + std::string(9000, 'a');
  CHECK(parse_http_request(huge, request).status == HttpParseStatus::too_large);
}

TEST_CASE("upgrades on /ws are accepted or refused with a status that says why", "[unit][ws]") {
  HttpDecision accepted = decide(upgrade_request + "\r\n");
  CHECK(accepted.action == HttpAction::upgrade);
  CHECK(accepted.response.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") !=
        std::string::npos);

  // Origin: by default only the port's own host; with a list, only those.
  CHECK(decide(upgrade_request + "Origin: https://chat.example.com:8443\r\n\r\n").status == 101);
  CHECK(decide(upgrade_request + "Origin: https://evil.example\r\n\r\n").status == 403);
  CHECK(decide(upgrade_request + "Origin: null\r\n\r\n").status == 403);
  WsPolicy listed;
  listed.allowed_origins = {"https://app.example.com"};
  CHECK(decide(upgrade_request + "Origin: https://app.example.com\r\n\r\n", listed).status == 101);
  CHECK(decide(upgrade_request + "Origin: https://chat.example.com:8443\r\n\r\n", listed).status ==
        403);
  CHECK(decide(upgrade_request + "\r\n", listed).status == 101);  // no Origin: not a browser

  CHECK(decide("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").status == 426);
  CHECK(decide("GET /ws?token=secret HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n").status ==
        400);
  CHECK(decide("GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n").status == 404);
  std::string no_key =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\n\r\n";
  CHECK(decide(no_key).status == 400);
  std::string old_version =
      "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
      "Connection: upgrade\r\nSec-WebSocket-Version: 8\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  CHECK(decide(old_version).status == 426);
  CHECK(decide(upgrade_request + "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n").status ==
        400);
  CHECK(decide("POST /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
            .status == 405);
}

TEST_CASE("other requests get a file, a hint or a refusal", "[unit][ws]") {
  CHECK(decide("GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 404);  // no --web-root
  WsPolicy files;
  files.serves_files = true;
  HttpDecision index = decide("GET / HTTP/1.1\r\nHost: x\r\n\r\n", files);
  CHECK(index.action == HttpAction::serve_file);
  CHECK(index.file == "index.html");
  HttpDecision head = decide("HEAD /assets/app.js?v=2 HTTP/1.1\r\nHost: x\r\n\r\n", files);
  CHECK(head.file == "assets/app.js");
  CHECK(head.head_only);
  CHECK(decide("DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", files).status == 405);
  CHECK(decide("GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", files).status == 400);
}

TEST_CASE("web paths never leave the root", "[unit][ws]") {
  std::string path;
  CHECK(normalise_web_path("/", path));
  CHECK(path == "index.html");
  CHECK(normalise_web_path("/docs/", path));
  CHECK(path == "docs/index.html");
  CHECK(normalise_web_path("//a/./b%20c.js", path));
  CHECK(path == "a/b c.js");
  CHECK(normalise_web_path("/./.", path));  // a trailing "." names a directory, never ""
  CHECK(path == "index.html");
  CHECK(normalise_web_path("/docs/%2e", path));
  CHECK(path == "docs/index.html");
  CHECK(normalise_web_path("/a/b..c(..)", path));  // dots inside a name are not a climb
  CHECK(path == "a/b..c(..)");
  for (std::string_view bad : {"/..", "/a/../b", "/%2e%2e/x", "/%2E%2E/x", "/a%2fb", "/a%5cb",
                               "/a\\b", "/%00", "/%zz", "/%2", "/.git/config", "/.env", "x"}) {
    INFO(bad);
    CHECK_FALSE(normalise_web_path(bad, path));
  }
  CHECK(web_content_type("app.mjs") == "text/javascript; charset=utf-8");
  CHECK(web_content_type("a/b.WASM") == "application/wasm");
  CHECK_FALSE(web_content_type("secret.pem").has_value());
  CHECK_FALSE(web_content_type("Makefile").has_value());
}

TEST_CASE("the decoder yields the same messages however the bytes are cut", "[unit][ws]") {
  auto stream = concat({ws_client_frame(ws_opcode_binary, bytes("one")),
                        ws_client_frame(ws_opcode_ping, bytes("p")),
                        ws_client_frame(ws_opcode_binary, bytes("tw"), false),
                        ws_client_frame(ws_opcode_pong, {}),  // control inside a message
                        ws_client_frame(ws_opcode_continuation, bytes("o"), true),
                        ws_client_frame(ws_opcode_binary, std::vector<std::uint8_t>(300, 'x')),
                        ws_client_frame(ws_opcode_binary, std::vector<std::uint8_t>(70'000, 'y'))});
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, std::size_t{7}, stream.size()}) {
    INFO("step " << step);
    WsDecoder decoder(100'000);
    Collected out = feed(decoder, stream, step);
    REQUIRE(out.messages.size() == 5);
    CHECK(out.messages[0] == "one");
    CHECK(out.messages[1] == "p");
    CHECK(out.messages[2] == "two");
    CHECK(out.messages[3] == std::string(300, 'x'));
    CHECK(out.messages[4] == std::string(70'000, 'y'));
    CHECK_FALSE(decoder.holds_partial());  // nothing held between messages
  }
}

TEST_CASE("the decoder refuses what the protocol or the limits forbid", "[unit][ws]") {
  auto code_of = [](std::vector<std::uint8_t> input) {
    WsDecoder decoder(1000);
    Collected out = feed(decoder, std::move(input), 1);
    REQUIRE_FALSE(out.kinds.empty());
    CHECK(out.kinds.back() == WsEvent::Kind::fail);
    return out.code;
  };
  CHECK(code_of(ws_client_frame(ws_opcode_text, bytes("hi"))) == ws_close::unsupported_data);
  CHECK(code_of(ws_client_frame(ws_opcode_binary, bytes("hi"), true, false)) ==
        ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(ws_opcode_binary, std::vector<std::uint8_t>(1001, 0))) ==
        ws_close::message_too_big);
  // The cap counts the fragments together, and refuses before buffering the one over it.
  CHECK(code_of(
            concat({ws_client_frame(ws_opcode_binary, std::vector<std::uint8_t>(600, 0), false),
                    ws_client_frame(ws_opcode_continuation, std::vector<std::uint8_t>(600, 0))})) ==
        ws_close::message_too_big);
  CHECK(code_of(ws_client_frame(ws_opcode_continuation, bytes("x"))) == ws_close::protocol_error);
  CHECK(code_of(concat({ws_client_frame(ws_opcode_binary, bytes("a"), false),
                        ws_client_frame(ws_opcode_binary, bytes("b"))})) ==
        ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(ws_opcode_ping, bytes("x"), false)) == ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(ws_opcode_ping, std::vector<std::uint8_t>(126, 0))) ==
        ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(0x3, bytes("x"))) == ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(0xB, bytes("x"))) == ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(ws_opcode_binary, {})) == ws_close::invalid_payload);
  auto reserved = ws_client_frame(ws_opcode_binary, bytes("x"));
  reserved[0] |= 0x40;
  CHECK(code_of(reserved) == ws_close::protocol_error);
  CHECK(code_of(ws_client_frame(ws_opcode_close, std::vector<std::uint8_t>{0x03, 0xED})) ==
        ws_close::protocol_error);  // 1005 never goes on the wire
  // A 64-bit length over the cap is refused from its header alone.
  std::vector<std::uint8_t> giant = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
  CHECK(code_of(giant) == ws_close::message_too_big);
}

TEST_CASE("a close frame ends decoding with the peer's code", "[unit][ws]") {
  WsDecoder decoder(1000);
  auto input = concat({ws_client_frame(ws_opcode_close, std::vector<std::uint8_t>{0x03, 0xE8}),
                       ws_client_frame(ws_opcode_binary, bytes("late"))});
  Collected out = feed(decoder, input, input.size());
  CHECK(out.kinds == std::vector<WsEvent::Kind>{WsEvent::Kind::close});
  CHECK(out.code == ws_close::normal);
}

TEST_CASE("server frames and close frames are encoded minimally", "[unit][ws]") {
  std::uint8_t header[ws_max_server_header];
  CHECK(ws_server_header(ws_opcode_binary, 125, header) == 2);
  CHECK(ws_server_header(ws_opcode_binary, 126, header) == 4);
  CHECK(ws_server_header(ws_opcode_binary, 70'000, header) == 10);
  CHECK(header[0] == 0x82);
  auto close = ws_close_frame(ws_close::message_too_big, std::string(200, 'r'));
  CHECK(close.size() == 2 + 125);  // the reason is cut to fit a control frame
  CHECK(close[2] == 0x03);
  CHECK(close[3] == 0xF1);
}
