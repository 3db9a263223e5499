#pragma once
// What the WebSocket port answers to a parsed HTTP request (RFC 6455 §4.2): upgrade to a
// WebSocket on /ws, serve a static file of the browser client, or an HTTP error. Without I/O.
#include <string>
#include <string_view>
#include <vector>

#include "net/http_request.h"

namespace qim::net {

// The one path a WebSocket is opened on.
inline constexpr std::string_view ws_path = "/ws";

struct WsPolicy {
  // Origins a browser may open a WebSocket from, e.g. "https://chat.example.com" (scheme,
  // host and port as the browser sends them). Empty: only pages served by this port itself
  // (an Origin whose host:port is the request's Host). A request without Origin comes from a
  // non-browser client and is always accepted: Origin protects browsers' users only.
  std::vector<std::string> allowed_origins;
  // GET requests for other paths are answered from --web-root when set.
  bool serves_files = false;
};

enum class HttpAction : std::uint8_t {
  upgrade,     // answer `response` (101), then speak WebSocket
  serve_file,  // look `file` up under the web root (HEAD: `head_only`)
  respond,     // answer `response` (an error) and close; `status` says which
};

struct HttpDecision {
  HttpAction action = HttpAction::respond;
  int status = 0;
  std::string response;  // upgrade / respond: the whole HTTP response
  std::string file;      // serve_file: the normalised path under the web root
  bool head_only = false;
  // respond and the decision is a refusal the log should note (why), e.g. "Origin not allowed".
  std::string reason;
};

HttpDecision decide_http(const HttpRequest& request, const WsPolicy& policy);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455 GUID)).
std::string ws_accept_key(std::string_view key);

// An HTTP/1.1 response with `Connection: close`: status line, `extra_headers` (each ending in
// CRLF), Content-Length of `body` and, unless `head_only`, the body.
std::string http_response(int status, std::string_view extra_headers, std::string_view body,
                          std::string_view content_type = "text/plain; charset=utf-8",
                          bool head_only = false);

// An error response whose body is `message` and a newline.
std::string http_error(int status, std::string_view message, std::string_view extra_headers = {});

}  // namespace qim::net
