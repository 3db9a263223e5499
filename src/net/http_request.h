#pragma once
// A small, bounded HTTP/1.1 request parser for the WebSocket port: the request line and
// headers only (no body: the port serves GET and HEAD). Without I/O, for the fuzzer.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace qim::net {

// A request is refused with 431 beyond these.
inline constexpr std::size_t http_max_request_bytes = 8 * 1024;
inline constexpr std::size_t http_max_headers = 64;

struct HttpHeader {
  std::string_view name;   // as sent; compare case-insensitively
  std::string_view value;  // without surrounding spaces
};

// Views into the bytes given to parse_http_request().
struct HttpRequest {
  std::string_view method;
  std::string_view target;   // origin-form: starts with '/'
  std::string_view version;  // "HTTP/1.1" or "HTTP/1.0"
  std::vector<HttpHeader> headers;

  // The first header called `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;
  std::size_t count(std::string_view name) const;
};

enum class HttpParseStatus : std::uint8_t {
  incomplete,  // no end of headers yet and within the limits: read more
  complete,    // `request` is filled; `consumed` bytes were the request
  malformed,   // 400
  too_large,   // 431
};

struct HttpParseResult {
  HttpParseStatus status;
  std::size_t consumed = 0;
  std::string_view reason;  // malformed / too_large: static text
};

HttpParseResult parse_http_request(std::string_view bytes, HttpRequest& request);

// Case-insensitive ASCII comparison.
bool http_iequals(std::string_view a, std::string_view b);
// True when the comma-separated header value `list` holds `token` (case-insensitive).
bool http_has_token(std::string_view list, std::string_view token);

}  // namespace qim::net
