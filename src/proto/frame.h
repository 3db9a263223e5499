#pragma once
// Framing for every TCP stream: u32 little-endian length, then one FlatBuffers root.
// Bytes in, verified values out; no I/O here.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "qim/errc.h"
#include "qim/schemas/client_generated.h"

namespace qim::proto {

inline constexpr std::uint32_t protocol_version = 1;
inline constexpr std::size_t frame_header_bytes = 4;
inline constexpr std::uint32_t default_client_max_frame_bytes = 64 * 1024;
inline constexpr std::uint32_t default_peer_max_frame_bytes = 4 * 1024 * 1024;

inline std::uint32_t decode_frame_length(const std::uint8_t* header) {
  return static_cast<std::uint32_t>(header[0]) | static_cast<std::uint32_t>(header[1]) << 8 |
         static_cast<std::uint32_t>(header[2]) << 16 | static_cast<std::uint32_t>(header[3]) << 24;
}

inline void encode_frame_length(std::uint32_t length, std::uint8_t* header) {
  header[0] = static_cast<std::uint8_t>(length);
  header[1] = static_cast<std::uint8_t>(length >> 8);
  header[2] = static_cast<std::uint8_t>(length >> 16);
  header[3] = static_cast<std::uint8_t>(length >> 24);
}

// Verifies one client frame payload (the bytes after the length prefix) and returns its
// envelope, or nullptr with `error` saying why. The envelope points into `payload`.
// REQUIRES: payload.data() is 8-byte aligned (FlatBuffers reads scalars in place).
const wire::Envelope* verify_envelope(std::span<const std::uint8_t> payload, Error& error);

// Builds size-prefixed Envelope frames. Reusable: each finish() starts a new frame.
// Not thread-safe; one per connection or per thread.
class FrameBuilder {
 public:
  explicit FrameBuilder(std::size_t initial_bytes = 1024) : fbb_(initial_bytes) {}

  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  // Finishes the envelope around `body`; the returned bytes (length prefix included) stay
  // valid until the next call on this builder.
  template <typename T>
  std::span<const std::uint8_t> finish(std::uint32_t req_id, flatbuffers::Offset<T> body) {
    auto envelope =
        wire::CreateEnvelope(fbb_, req_id, wire::BodyTraits<T>::enum_value, body.Union());
    // Not FinishSizePrefixed: that aligns the buffer *with* its prefix, which leaves the
    // payload's 8-byte fields misaligned relative to the payload start, and receivers verify
    // the payload alone at an 8-byte-aligned address. Finishing the payload first keeps its
    // own alignment; the length is then pushed in front of it.
    wire::FinishEnvelopeBuffer(fbb_, envelope);
    fbb_.PushElement(static_cast<std::uint32_t>(fbb_.GetSize()));
    return {fbb_.GetBufferPointer(), fbb_.GetSize()};
  }

  // REQUIRES: called before building the next frame (finish() leaves the last one readable).
  void reset() { fbb_.Clear(); }

  // Convenience: a whole Error frame.
  std::span<const std::uint8_t> error(std::uint32_t req_id, errc code, std::string_view message);

 private:
  flatbuffers::FlatBufferBuilder fbb_;
};

// A standalone Error frame, for the rare paths without a builder at hand.
std::vector<std::uint8_t> make_error_frame(std::uint32_t req_id, errc code,
                                           std::string_view message);

inline wire::ErrorCode to_wire(errc code) {
  return static_cast<wire::ErrorCode>(code);
}
inline errc from_wire(wire::ErrorCode code) {
  auto value = static_cast<std::uint16_t>(code);
  return value <= errc_max ? static_cast<errc>(value) : errc::internal;
}

// View helpers for optional FlatBuffers strings and byte vectors.
inline std::string_view view(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}
inline std::span<const std::uint8_t> view(const flatbuffers::Vector<std::uint8_t>* v) {
  return v ? std::span<const std::uint8_t>(v->data(), v->size()) : std::span<const std::uint8_t>();
}

}  // namespace qim::proto
