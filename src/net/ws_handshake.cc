#include "net/ws_handshake.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>

#include <fmt/core.h>

#include "net/web_files.h"

namespace qim::net {

namespace {

constexpr std::string_view ws_guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 426:
      return "Upgrade Required";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

// A Sec-WebSocket-Key is the base64 of 16 bytes: 22 characters and "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/';
    if (!base64) return false;
  }
  return true;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// "https://Host:1234" -> "host:1234"; empty when not a serialized http(s) origin.
std::string origin_authority(std::string_view origin) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (origin.size() > scheme.size() && http_iequals(origin.substr(0, scheme.size()), scheme)) {
      std::string_view authority = origin.substr(scheme.size());
      if (authority.find('/') != std::string_view::npos) return {};
      return ascii_lower(authority);
    }
  }
  return {};
}

bool origin_allowed(std::string_view origin, std::string_view host, const WsPolicy& policy) {
  if (!policy.allowed_origins.empty()) {
    for (const std::string& allowed : policy.allowed_origins) {
      if (http_iequals(allowed, origin)) return true;
    }
    return false;
  }
  std::string authority = origin_authority(origin);
  return !authority.empty() && authority == ascii_lower(host);
}

HttpDecision refuse(int status, std::string_view message, std::string_view extra_headers = {}) {
  HttpDecision decision;
  decision.action = HttpAction::respond;
  decision.status = status;
  decision.reason = std::string(message);
  decision.response = http_error(status, message, extra_headers);
  return decision;
}

HttpDecision upgrade(const HttpRequest& request, const WsPolicy& policy) {
  for (std::string_view unique :
       {"Host", "Origin", "Upgrade", "Sec-WebSocket-Key", "Sec-WebSocket-Version"}) {
    if (request.count(unique) > 1)
      return refuse(400, fmt::format("more than one {} header", unique));
  }
  if (request.target.size() != ws_path.size()) {
    return refuse(400, "the WebSocket URL takes no query: credentials go in the first frame");
  }
  if (request.method != "GET") return refuse(405, "a WebSocket opens with GET", "Allow: GET\r\n");
  if (request.version != "HTTP/1.1") return refuse(400, "a WebSocket upgrade needs HTTP/1.1");
  auto upgrade_header = request.header("Upgrade");
  auto connection = request.header("Connection");
  if (!upgrade_header || !http_has_token(*upgrade_header, "websocket") || !connection ||
      !http_has_token(*connection, "upgrade")) {
    return refuse(426, "this path speaks WebSocket only (Upgrade: websocket)",
                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
  }
  auto host = request.header("Host");
  if (!host || host->empty()) return refuse(400, "missing Host header");
  auto version = request.header("Sec-WebSocket-Version");
  if (!version || *version != "13") {
    return refuse(426, "only WebSocket version 13 is spoken", "Sec-WebSocket-Version: 13\r\n");
  }
  auto key = request.header("Sec-WebSocket-Key");
  if (!key || !valid_key(*key)) return refuse(400, "missing or malformed Sec-WebSocket-Key");
  auto origin = request.header("Origin");
  if (origin && !origin_allowed(*origin, *host, policy)) {
    return refuse(403, fmt::format("Origin {} is not allowed", *origin));
  }
  // No subprotocol and no extension (so no compression) is agreed to: the client gets plain
  // binary messages.
  HttpDecision decision;
  decision.action = HttpAction::upgrade;
  decision.status = 101;
  decision.response = fmt::format(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: {}\r\n\r\n",
      ws_accept_key(*key));
  return decision;
}

}  // namespace

std::string ws_accept_key(std::string_view key) {
  std::string input = std::string(key) + std::string(ws_guid);
  std::array<unsigned char, SHA_DIGEST_LENGTH> digest{};
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.data());
  std::array<unsigned char, 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1> encoded{};
  int length = EVP_EncodeBlock(encoded.data(), digest.data(), SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(encoded.data()),
                     static_cast<std::size_t>(length));
}

std::string http_response(int status, std::string_view extra_headers, std::string_view body,
                          std::string_view content_type, bool head_only) {
  std::string response = fmt::format(
      "HTTP/1.1 {} {}\r\n{}Content-Type: {}\r\nContent-Length: {}\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
      status, reason_phrase(status), extra_headers, content_type, body.size());
  if (!head_only) response.append(body);
  return response;
}

std::string http_error(int status, std::string_view message, std::string_view extra_headers) {
  return http_response(status, extra_headers, fmt::format("{}\n", message));
}

HttpDecision decide_http(const HttpRequest& request, const WsPolicy& policy) {
  std::string_view path = request.target.substr(0, request.target.find('?'));
  bool wants_upgrade = request.header("Upgrade").has_value();
  if (path == ws_path) return upgrade(request, policy);
  if (wants_upgrade) return refuse(404, "WebSockets open on /ws");
  bool head = request.method == "HEAD";
  if (request.method != "GET" && !head) {
    return refuse(405, "only GET and HEAD are served here", "Allow: GET, HEAD\r\n");
  }
  if (!policy.serves_files) {
    return refuse(404, "no web client is served here (qimd --web-root DIR serves one)");
  }
  std::string file;
  if (!normalise_web_path(request.target, file)) return refuse(400, "path refused");
  HttpDecision decision;
  decision.action = HttpAction::serve_file;
  decision.status = 200;
  decision.file = std::move(file);
  decision.head_only = head;
  return decision;
}

}  // namespace qim::net
