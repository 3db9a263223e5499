// Fuzzes the WebSocket port's HTTP side: the request parser over any bytes, fed whole and in
// two pieces as a connection accumulates them, then what the port answers (upgrade, file or
// refusal) under both Origin policies, and the path normalisation of whatever target parsed.
// Nothing may crash or read out of bounds; a normalised path never climbs out of the root or
// names a hidden file.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/http_request.h"
#include "net/web_files.h"
#include "net/ws_handshake.h"

using namespace qim::net;

namespace {

// A relative path stays under the root when no segment is empty, climbs ("..") or is hidden:
// a segment starting with '.' covers both. Dots inside a name ("a..b") are just a name.
bool stays_under_root(std::string_view file) {
  if (file.empty() || file.find('\\') != std::string_view::npos) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t slash = file.find('/', start);
    std::string_view segment = file.substr(start, slash - start);
    if (segment.empty() || segment.front() == '.') return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // An odd first byte wraps the rest in a request line and an end of headers, so random bytes
  // reach the header and decision code rather than only the request line's checks.
  std::string wrapped;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (size > 0 && (data[0] & 1) != 0) {
    wrapped = "GET /ws HTTP/1.1\r\n";
    wrapped.append(input.substr(1));
    wrapped.append("\r\n\r\n");
    input = wrapped;
  }
  HttpRequest request;
  std::size_t cut = size == 0 ? 0 : data[0] % (input.size() + 1);
  parse_http_request(input.substr(0, cut), request);
  HttpParseResult parsed = parse_http_request(input, request);
  if (parsed.status != HttpParseStatus::complete) {
    if (parsed.reason.empty()) {
      if (parsed.status != HttpParseStatus::incomplete) std::abort();  // a refusal says why
    }
    return 0;
  }
  if (parsed.consumed > input.size()) std::abort();
  WsPolicy open_policy;
  open_policy.serves_files = true;
  WsPolicy listed;
  listed.allowed_origins = {"https://chat.example.com"};
  for (const WsPolicy* policy : {&open_policy, &listed}) {
    HttpDecision decision = decide_http(request, *policy);
    if (decision.action == HttpAction::respond && decision.response.empty()) std::abort();
    if (decision.action == HttpAction::serve_file && !stays_under_root(decision.file)) std::abort();
  }
  std::string path;
  if (normalise_web_path(request.target, path)) {
    if (!stays_under_root(path)) std::abort();
    web_content_type(path);
  }
  return 0;
}
