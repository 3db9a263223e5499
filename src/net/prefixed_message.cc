#include "net/prefixed_message.h"

#include <asio/experimental/as_tuple.hpp>

#include <array>

#include "proto/frame.h"

namespace qim::net {
namespace {
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);
}  // namespace

asio::awaitable<bool> write_prefixed_message(asio::ip::tcp::socket& socket,
                                             std::span<const std::uint8_t> bytes) {
  std::uint8_t header[proto::frame_header_bytes];
  proto::encode_frame_length(static_cast<std::uint32_t>(bytes.size()), header);
  std::array<asio::const_buffer, 2> buffers{asio::buffer(header),
                                            asio::buffer(bytes.data(), bytes.size())};
  auto [error, count] = co_await asio::async_write(socket, buffers, use_nothrow);
  co_return !error;
}

asio::awaitable<std::optional<std::vector<std::uint8_t>>> read_prefixed_message(
    asio::ip::tcp::socket& socket, std::size_t max_bytes) {
  std::uint8_t header[proto::frame_header_bytes];
  auto [error, count] = co_await asio::async_read(socket, asio::buffer(header), use_nothrow);
  if (error) co_return std::nullopt;
  std::uint32_t length = proto::decode_frame_length(header);
  if (length == 0 || length > max_bytes) co_return std::nullopt;
  std::vector<std::uint8_t> bytes(length);
  auto [body_error, body_count] =
      co_await asio::async_read(socket, asio::buffer(bytes), use_nothrow);
  if (body_error) co_return std::nullopt;
  co_return bytes;
}

}  // namespace qim::net
