#include "net/endpoint.h"

#include <charconv>

#include <fmt/core.h>

namespace qim::net {

std::optional<HostPort> parse_host_port(std::string_view text) {
  HostPort result;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    result.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    result.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (result.host.find(':') != std::string::npos) return std::nullopt;  // IPv6 needs []
  }
  if (result.host.empty() || port_text.empty() || port_text.size() > 5) return std::nullopt;
  unsigned port = 0;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port > 65535) {
    return std::nullopt;
  }
  result.port = static_cast<std::uint16_t>(port);
  return result;
}

bool resolve_listen_endpoint(const HostPort& address, asio::ip::tcp::endpoint& endpoint,
                             std::string& error) {
  asio::error_code code;
  auto ip = asio::ip::make_address(address.host, code);
  if (!code) {
    endpoint = asio::ip::tcp::endpoint(ip, address.port);
    return true;
  }
  asio::io_context context;
  asio::ip::tcp::resolver resolver(context);
  auto results = resolver.resolve(address.host, std::to_string(address.port),
                                  asio::ip::resolver_base::passive, code);
  if (code || results.empty()) {
    error = fmt::format("cannot resolve '{}': {}", address.host,
                        code ? code.message() : std::string("no address"));
    return false;
  }
  endpoint = results.begin()->endpoint();
  return true;
}

}  // namespace qim::net
