#pragma once
// One whole length-prefixed message on a TCP stream (u32 LE length || bytes), for the short
// exchanges that are not a framed session: gossip push-pulls and peer link handshakes.
#include <asio.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace qim::net {

// False when the socket fails.
asio::awaitable<bool> write_prefixed_message(asio::ip::tcp::socket& socket,
                                             std::span<const std::uint8_t> bytes);

// nullopt when the socket fails, or the length is 0 or over `max_bytes` (checked before
// allocating, so a peer cannot make us reserve memory it never sends).
asio::awaitable<std::optional<std::vector<std::uint8_t>>> read_prefixed_message(
    asio::ip::tcp::socket& socket, std::size_t max_bytes);

}  // namespace qim::net
