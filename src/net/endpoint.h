#pragma once
// "host:port" as written in --listen, and its resolution to a socket address.
#include <asio.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace qim::net {

struct HostPort {
  std::string host;  // an IP literal or a name; IPv6 literals without the brackets
  std::uint16_t port = 0;
};

// Parses "127.0.0.1:7700", "[::1]:7700" or "localhost:0". nullopt when malformed.
std::optional<HostPort> parse_host_port(std::string_view text);

// Resolves for listening (blocking; startup only). False with `error` set on failure.
bool resolve_listen_endpoint(const HostPort& address, asio::ip::tcp::endpoint& endpoint,
                             std::string& error);

}  // namespace qim::net
