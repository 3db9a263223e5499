#pragma once
// RFC 6455 framing, server side, without I/O: WsDecoder turns the bytes a client sent into
// binary messages and control frames; ws_*_header() encode the server's (unmasked) frames.
//
// Why not wslay (Debian's libwslay-dev): its frame and event contexts each hold a 4 KiB input
// buffer and pull bytes through a recv callback, so every idle connection would carry that
// buffer. This decoder is fed the shard's read buffer, unmasks in place, hands out a message
// that lies whole in that buffer without copying it, and holds state of its own (on the heap,
// one pointer otherwise) only while a frame or a fragmented message is incomplete.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace qim::net {

// Close codes (RFC 6455 §7.4.1) this server sends.
namespace ws_close {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t unsupported_data = 1003;
inline constexpr std::uint16_t invalid_payload = 1007;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t message_too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace ws_close

inline constexpr std::uint8_t ws_opcode_continuation = 0x0;
inline constexpr std::uint8_t ws_opcode_text = 0x1;
inline constexpr std::uint8_t ws_opcode_binary = 0x2;
inline constexpr std::uint8_t ws_opcode_close = 0x8;
inline constexpr std::uint8_t ws_opcode_ping = 0x9;
inline constexpr std::uint8_t ws_opcode_pong = 0xA;

// Control frames carry at most this much payload (RFC 6455 §5.5).
inline constexpr std::size_t ws_max_control_payload = 125;
// The longest frame header a server writes: 2 bytes + a 64-bit length.
inline constexpr std::size_t ws_max_server_header = 10;

struct WsEvent {
  enum class Kind : std::uint8_t {
    need_more,  // everything given was consumed; feed more input
    message,    // a complete binary message (`payload`)
    ping,       // answer with a pong carrying `payload`
    pong,       // nothing to do
    close,      // the peer closes: `code` (0 when it gave none); answer and close
    fail,       // the peer broke the protocol: close with `code`, `reason` says why
  };
  Kind kind = Kind::need_more;
  std::uint16_t code = 0;
  std::span<const std::uint8_t> payload;  // valid until the next call to next()
  std::string_view reason;                // fail: static text
};

// Decodes the frames of one client connection. After a close or fail event it decodes nothing
// more (next() repeats that event's kind with an empty payload).
class WsDecoder {
 public:
  // Messages (the sum of their fragments) longer than `max_message_bytes` fail with 1009
  // before any of their payload is buffered.
  explicit WsDecoder(std::uint32_t max_message_bytes);
  ~WsDecoder();
  WsDecoder(const WsDecoder&) = delete;
  WsDecoder& operator=(const WsDecoder&) = delete;

  // Takes bytes from the front of `input` (advancing it) up to the next event. Unmasks
  // payloads in place, so an event's payload may point into `input`'s buffer.
  WsEvent next(std::span<std::uint8_t>& input);

  // True while a frame or message is incomplete (state is held on the heap).
  bool holds_partial() const { return partial_ != nullptr; }

 private:
  struct Partial;
  struct Header {
    bool fin;
    std::uint8_t opcode;
    std::array<std::uint8_t, 4> mask;
    std::uint64_t length;
  };

  WsEvent fail(std::uint16_t code, std::string_view reason);
  // Checks a complete header against the protocol and the size cap; a fail event or need_more
  // (meaning: accepted).
  WsEvent check(const Header& header);
  WsEvent control_event(std::uint8_t opcode, std::span<const std::uint8_t> payload);
  Partial& partial();
  void release_if_idle();

  const std::uint32_t max_message_bytes_;
  bool ended_ = false;
  WsEvent::Kind end_kind_ = WsEvent::Kind::need_more;
  std::unique_ptr<Partial> partial_;
};

// Parses a frame header at the start of `bytes`: its size (0 while incomplete). Exposed for
// tests and the test client.
std::size_t ws_header_size(std::span<const std::uint8_t> bytes);

// Writes the header of an unmasked server frame (FIN set) for a payload of `length` bytes
// into `out` (at least ws_max_server_header bytes); returns its size.
std::size_t ws_server_header(std::uint8_t opcode, std::uint64_t length, std::uint8_t* out);

// A whole close frame from the server: code (big endian) and a reason cut to fit.
std::vector<std::uint8_t> ws_close_frame(std::uint16_t code, std::string_view reason);

// XORs `bytes` with `mask`, starting at mask position `phase` (0-3).
void ws_apply_mask(std::span<std::uint8_t> bytes, const std::array<std::uint8_t, 4>& mask,
                   std::size_t phase);

}  // namespace qim::net
