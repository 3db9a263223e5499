#pragma once
// Admin frames (schemas/admin.fbs): the same u32 little-endian length prefix as every qim
// stream, then one verified AdminEnvelope. Bytes in, verified values out; no I/O here. Used by
// the node's admin endpoint and by qimctl.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "qim/errc.h"
#include "qim/schemas/admin_generated.h"

namespace qim::admin {

// Admin replies (a member list, a group roster) are larger than client frames but bounded: a
// frame over this is refused before anything is allocated for it.
inline constexpr std::uint32_t max_admin_frame_bytes = 1024 * 1024;

// Verifies one admin frame payload (the bytes after the length prefix) and returns its
// envelope, or nullptr with `error` saying why. The envelope points into `payload`.
// REQUIRES: payload.data() is 8-byte aligned (FlatBuffers reads scalars in place).
const admin_wire::AdminEnvelope* verify_admin_envelope(std::span<const std::uint8_t> payload,
                                                       Error& error);

// Builds length-prefixed AdminEnvelope frames. Reusable: each finish() starts a new frame once
// reset() was called. Not thread-safe.
class AdminFrameBuilder {
 public:
  explicit AdminFrameBuilder(std::size_t initial_bytes = 1024) : fbb_(initial_bytes) {}

  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  // Finishes the envelope around `body`; the returned bytes (length prefix included) stay
  // valid until the next reset().
  template <typename T>
  std::span<const std::uint8_t> finish(std::uint32_t req_id, flatbuffers::Offset<T> body) {
    auto envelope = admin_wire::CreateAdminEnvelope(
        fbb_, req_id, admin_wire::AdminBodyTraits<T>::enum_value, body.Union());
    // As proto::FrameBuilder: the payload is finished on its own so its alignment is relative
    // to its own start (receivers verify it alone), then the length goes in front.
    admin_wire::FinishAdminEnvelopeBuffer(fbb_, envelope);
    fbb_.PushElement(static_cast<std::uint32_t>(fbb_.GetSize()));
    return {fbb_.GetBufferPointer(), fbb_.GetSize()};
  }

  void reset() { fbb_.Clear(); }

  // A whole AdminError frame (resets the builder first).
  std::span<const std::uint8_t> error(std::uint32_t req_id, errc code, std::string_view message);

 private:
  flatbuffers::FlatBufferBuilder fbb_;
};

}  // namespace qim::admin
