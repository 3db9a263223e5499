#include "net/ws_frame.h"

#include <algorithm>
#include <cstring>

namespace qim::net {

namespace {

constexpr std::uint8_t fin_bit = 0x80;
constexpr std::uint8_t reserved_bits = 0x70;
constexpr std::uint8_t opcode_bits = 0x0F;
constexpr std::uint8_t mask_bit = 0x80;
constexpr std::uint8_t length_bits = 0x7F;
constexpr std::size_t longest_client_header = 14;  // 2 + 8 (length) + 4 (mask key)

bool is_control(std::uint8_t opcode) {
  return (opcode & 0x8) != 0;
}

// Close codes a peer may send (RFC 6455 §7.4; 1004-1006 and 1015 never go on the wire).
bool valid_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

}  // namespace

// What an incomplete frame or message leaves behind between reads.
struct WsDecoder::Partial {
  std::array<std::uint8_t, longest_client_header> header{};
  std::uint8_t header_filled = 0;  // bytes of an incomplete header
  bool in_frame = false;           // `frame`'s header is complete, its payload is not
  Header frame{};
  std::uint64_t frame_done = 0;       // payload bytes of `frame` taken
  bool in_message = false;            // a binary message is being reassembled in `message`
  bool handed_out = false;            // `message` or `control` was the last event's payload
  std::vector<std::uint8_t> message;  // unmasked payload so far
  std::vector<std::uint8_t> control;  // unmasked payload of an incomplete control frame
};

WsDecoder::WsDecoder(std::uint32_t max_message_bytes) : max_message_bytes_(max_message_bytes) {}

WsDecoder::~WsDecoder() = default;

std::size_t ws_header_size(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 2) return 0;
  std::uint8_t length = bytes[1] & length_bits;
  std::size_t size = 2 +
                     (length == 126   ? 2
                      : length == 127 ? 8
                                      : 0) +
                     ((bytes[1] & mask_bit) != 0 ? 4 : 0);
  return bytes.size() >= size ? size : 0;
}

void ws_apply_mask(std::span<std::uint8_t> bytes, const std::array<std::uint8_t, 4>& mask,
                   std::size_t phase) {
  for (std::size_t index = 0; index < bytes.size(); ++index)
    bytes[index] ^= mask[(phase + index) & 3];
}

std::size_t ws_server_header(std::uint8_t opcode, std::uint64_t length, std::uint8_t* out) {
  out[0] = static_cast<std::uint8_t>(fin_bit | opcode);
  if (length < 126) {
    out[1] = static_cast<std::uint8_t>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(length >> 8);
    out[3] = static_cast<std::uint8_t>(length);
    return 4;
  }
  out[1] = 127;
  for (int index = 0; index < 8; ++index)
    out[2 + index] = static_cast<std::uint8_t>(length >> (8 * (7 - index)));
  return 10;
}

std::vector<std::uint8_t> ws_close_frame(std::uint16_t code, std::string_view reason) {
  reason = reason.substr(0, ws_max_control_payload - 2);
  std::uint8_t header[ws_max_server_header];
  std::size_t header_size = ws_server_header(ws_opcode_close, 2 + reason.size(), header);
  // Sized once and filled by index: GCC's -O3 misreads growth by insert() as an overflow.
  std::vector<std::uint8_t> frame(header_size + 2 + reason.size());
  std::memcpy(frame.data(), header, header_size);
  frame[header_size] = static_cast<std::uint8_t>(code >> 8);
  frame[header_size + 1] = static_cast<std::uint8_t>(code);
  if (!reason.empty()) std::memcpy(frame.data() + header_size + 2, reason.data(), reason.size());
  return frame;
}

WsEvent WsDecoder::fail(std::uint16_t code, std::string_view reason) {
  ended_ = true;
  end_kind_ = WsEvent::Kind::fail;
  partial_.reset();
  return WsEvent{WsEvent::Kind::fail, code, {}, reason};
}

WsDecoder::Partial& WsDecoder::partial() {
  if (!partial_) partial_ = std::make_unique<Partial>();
  return *partial_;
}

void WsDecoder::release_if_idle() {
  if (!partial_) return;
  const Partial& state = *partial_;
  if (state.header_filled == 0 && !state.in_frame && !state.in_message && !state.handed_out) {
    partial_.reset();
  }
}

WsEvent WsDecoder::check(const Header& header) {
  bool in_message = partial_ && partial_->in_message;
  if (is_control(header.opcode)) {
    if (header.opcode != ws_opcode_close && header.opcode != ws_opcode_ping &&
        header.opcode != ws_opcode_pong) {
      return fail(ws_close::protocol_error, "unknown control opcode");
    }
    if (!header.fin) return fail(ws_close::protocol_error, "fragmented control frame");
    if (header.length > ws_max_control_payload) {
      return fail(ws_close::protocol_error, "control frame longer than 125 bytes");
    }
    if (header.opcode == ws_opcode_close && header.length == 1) {
      return fail(ws_close::protocol_error, "close frame with a 1-byte payload");
    }
    return {};
  }
  if (header.opcode == ws_opcode_text) {
    return fail(ws_close::unsupported_data,
                "text messages are not accepted: send one FlatBuffers Envelope per binary message");
  }
  if (header.opcode == ws_opcode_continuation && !in_message) {
    return fail(ws_close::protocol_error, "continuation frame without a message to continue");
  }
  if (header.opcode == ws_opcode_binary && in_message) {
    return fail(ws_close::protocol_error, "new message before the fragmented one ended");
  }
  if (header.opcode != ws_opcode_continuation && header.opcode != ws_opcode_binary) {
    return fail(ws_close::protocol_error, "unknown data opcode");
  }
  std::uint64_t before = in_message ? partial_->message.size() : 0;
  if (header.length > max_message_bytes_ || before + header.length > max_message_bytes_) {
    return fail(ws_close::message_too_big, "message exceeds the size limit");
  }
  if (header.fin && before + header.length == 0) {
    return fail(ws_close::invalid_payload, "empty message: a message carries one Envelope");
  }
  return {};
}

WsEvent WsDecoder::next(std::span<std::uint8_t>& input) {
  if (ended_) return WsEvent{end_kind_, 0, {}, {}};
  if (partial_ && partial_->handed_out) {
    Partial& state = *partial_;
    state.handed_out = false;
    if (!state.in_message) std::vector<std::uint8_t>().swap(state.message);
    state.control.clear();
  }
  for (;;) {
    if (!partial_ || !partial_->in_frame) {
      // The next frame header: straight from the input when it is whole there.
      std::span<const std::uint8_t> header_bytes;
      std::array<std::uint8_t, longest_client_header> gathered;
      if (partial_ && partial_->header_filled > 0) {
        Partial& state = *partial_;
        while (!input.empty() && state.header_filled < longest_client_header &&
               ws_header_size({state.header.data(), state.header_filled}) == 0) {
          state.header[state.header_filled++] = input.front();
          input = input.subspan(1);
        }
        std::size_t size = ws_header_size({state.header.data(), state.header_filled});
        if (size == 0) return {};
        gathered = state.header;
        header_bytes = {gathered.data(), size};
        state.header_filled = 0;
      } else {
        if (input.empty()) {
          release_if_idle();
          return {};
        }
        std::size_t size = ws_header_size(input);
        if (size == 0) {
          Partial& state = partial();
          state.header_filled = static_cast<std::uint8_t>(input.size());
          std::memcpy(state.header.data(), input.data(), input.size());
          input = input.subspan(input.size());
          return {};
        }
        header_bytes = input.first(size);
        input = input.subspan(size);
      }

      std::uint8_t first = header_bytes[0];
      std::uint8_t second = header_bytes[1];
      if ((first & reserved_bits) != 0) {
        return fail(ws_close::protocol_error, "reserved bits set (no extension was negotiated)");
      }
      if ((second & mask_bit) == 0) {
        return fail(ws_close::protocol_error, "client frames must be masked");
      }
      Header header{};
      header.fin = (first & fin_bit) != 0;
      header.opcode = first & opcode_bits;
      std::uint8_t short_length = second & length_bits;
      std::size_t at = 2;
      if (short_length == 126) {
        header.length = (std::uint64_t{header_bytes[2]} << 8) | header_bytes[3];
        at = 4;
      } else if (short_length == 127) {
        if ((header_bytes[2] & 0x80) != 0) {
          return fail(ws_close::protocol_error, "64-bit payload length with the top bit set");
        }
        header.length = 0;
        for (std::size_t index = 0; index < 8; ++index)
          header.length = (header.length << 8) | header_bytes[2 + index];
        at = 10;
      } else {
        header.length = short_length;
      }
      std::copy_n(header_bytes.begin() + static_cast<std::ptrdiff_t>(at), 4, header.mask.begin());
      if (WsEvent verdict = check(header); verdict.kind == WsEvent::Kind::fail) return verdict;

      bool in_message = partial_ && partial_->in_message;
      bool whole_here = input.size() >= header.length;
      bool control = is_control(header.opcode);
      if (whole_here && (control || (header.fin && !in_message))) {
        // The whole frame is in the input: unmask it there and hand it out without a copy.
        auto length = static_cast<std::size_t>(header.length);
        std::span<std::uint8_t> payload = input.first(length);
        input = input.subspan(length);
        ws_apply_mask(payload, header.mask, 0);
        release_if_idle();
        if (!control) return WsEvent{WsEvent::Kind::message, 0, payload, {}};
        return control_event(header.opcode, payload);
      }
      Partial& state = partial();
      state.in_frame = true;
      state.frame = header;
      state.frame_done = 0;
      if (!control) {
        if (!state.in_message) {
          state.in_message = true;
          state.message.clear();
        }
        std::size_t needed = state.message.size() + static_cast<std::size_t>(header.length);
        if (state.message.capacity() < needed) {
          // Geometric growth for many small fragments, never beyond the cap.
          state.message.reserve(std::min<std::size_t>(
              max_message_bytes_, std::max(needed, 2 * state.message.capacity())));
        }
      } else {
        state.control.clear();
      }
    }

    // The current frame's payload, unmasked into the buffer it belongs to.
    Partial& state = *partial_;
    std::uint64_t remaining = state.frame.length - state.frame_done;
    auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, input.size()));
    std::vector<std::uint8_t>& target =
        is_control(state.frame.opcode) ? state.control : state.message;
    std::size_t start = target.size();
    target.insert(target.end(), input.begin(), input.begin() + static_cast<std::ptrdiff_t>(take));
    ws_apply_mask({target.data() + start, take}, state.frame.mask,
                  static_cast<std::size_t>(state.frame_done & 3));
    input = input.subspan(take);
    state.frame_done += take;
    if (state.frame_done < state.frame.length) return {};
    state.in_frame = false;
    if (is_control(state.frame.opcode)) {
      state.handed_out = true;
      return control_event(state.frame.opcode, state.control);
    }
    if (!state.frame.fin) continue;
    state.in_message = false;
    state.handed_out = true;
    return WsEvent{WsEvent::Kind::message, 0, state.message, {}};
  }
}

WsEvent WsDecoder::control_event(std::uint8_t opcode, std::span<const std::uint8_t> payload) {
  if (opcode == ws_opcode_ping) return WsEvent{WsEvent::Kind::ping, 0, payload, {}};
  if (opcode == ws_opcode_pong) return WsEvent{WsEvent::Kind::pong, 0, payload, {}};
  std::uint16_t code = 0;
  if (payload.size() >= 2) {
    code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
    if (!valid_close_code(code)) return fail(ws_close::protocol_error, "invalid close code");
  }
  ended_ = true;
  end_kind_ = WsEvent::Kind::close;
  return WsEvent{WsEvent::Kind::close, code, payload, {}};
}

}  // namespace qim::net
