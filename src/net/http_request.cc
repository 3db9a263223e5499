#include "net/http_request.h"

#include <algorithm>

namespace qim::net {

namespace {

constexpr std::string_view line_end = "\r\n";
constexpr std::string_view headers_end = "\r\n\r\n";

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 9110 tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

// Field values: visible ASCII, space, tab and obs-text; no other control characters.
bool is_field_value(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte == '\t' || (byte >= 0x20 && byte != 0x7F);
  });
}

// Request targets: visible ASCII only.
bool is_target(std::string_view text) {
  return !text.empty() && text.front() == '/' && std::all_of(text.begin(), text.end(), [](char c) {
    auto byte = static_cast<unsigned char>(c);
    return byte > 0x20 && byte < 0x7F;
  });
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
    text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t'))
    text.remove_suffix(1);
  return text;
}

HttpParseResult malformed(std::string_view reason) {
  return {HttpParseStatus::malformed, 0, reason};
}

}  // namespace

bool http_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

bool http_has_token(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    std::size_t comma = list.find(',');
    if (http_iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<std::string_view> HttpRequest::header(std::string_view name) const {
  for (const HttpHeader& field : headers) {
    if (http_iequals(field.name, name)) return field.value;
  }
  return std::nullopt;
}

std::size_t HttpRequest::count(std::string_view name) const {
  return static_cast<std::size_t>(
      std::count_if(headers.begin(), headers.end(),
                    [name](const HttpHeader& field) { return http_iequals(field.name, name); }));
}

HttpParseResult parse_http_request(std::string_view bytes, HttpRequest& request) {
  request = HttpRequest{};
  std::size_t end = bytes.substr(0, http_max_request_bytes).find(headers_end);
  if (end == std::string_view::npos) {
    if (bytes.size() >= http_max_request_bytes) {
      return {HttpParseStatus::too_large, 0, "request headers exceed 8 KiB"};
    }
    // A request line that cannot be HTTP is refused before the rest arrives.
    if (!bytes.empty() && !is_token_char(bytes.front())) return malformed("not an HTTP request");
    return {HttpParseStatus::incomplete, 0, {}};
  }
  std::string_view head = bytes.substr(0, end + line_end.size());
  std::size_t consumed = end + headers_end.size();

  std::size_t line_length = head.find(line_end);
  std::string_view line = head.substr(0, line_length);
  head.remove_prefix(line_length + line_end.size());
  std::size_t first_space = line.find(' ');
  std::size_t second_space =
      first_space == std::string_view::npos ? first_space : line.find(' ', first_space + 1);
  if (second_space == std::string_view::npos) return malformed("malformed request line");
  request.method = line.substr(0, first_space);
  request.target = line.substr(first_space + 1, second_space - first_space - 1);
  request.version = line.substr(second_space + 1);
  if (!is_token(request.method)) return malformed("malformed method");
  if (!is_target(request.target)) return malformed("request target must be a path");
  if (request.version != "HTTP/1.1" && request.version != "HTTP/1.0") {
    return malformed("unsupported HTTP version");
  }

  while (!head.empty()) {
    std::size_t length = head.find(line_end);
    std::string_view field = head.substr(0, length);
    head.remove_prefix(length + line_end.size());
    if (request.headers.size() == http_max_headers) {
      return {HttpParseStatus::too_large, 0, "more than 64 request headers"};
    }
    std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) return malformed("header line without a colon");
    std::string_view name = field.substr(0, colon);
    std::string_view value = field.substr(colon + 1);
    // Also refuses obsolete line folding (a line starting with a space).
    if (!is_token(name)) return malformed("malformed header name");
    if (!is_field_value(value)) return malformed("control character in a header value");
    request.headers.push_back(HttpHeader{name, trim(value)});
  }
  return {HttpParseStatus::complete, consumed, {}};
}

}  // namespace qim::net
