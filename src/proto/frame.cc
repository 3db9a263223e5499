#include "proto/frame.h"

#include <fmt/core.h>

namespace qim::proto {

static_assert(static_cast<std::uint16_t>(wire::ErrorCode::MAX) == errc_max,
              "qim::errc and wire::ErrorCode must list the same codes");

namespace {
// Bounds on what a frame may ask the verifier to walk; a 64 KiB frame needs far less.
constexpr flatbuffers::uoffset_t max_depth = 16;
constexpr flatbuffers::uoffset_t max_tables = 100'000;
}  // namespace

const wire::Envelope* verify_envelope(std::span<const std::uint8_t> payload, Error& error) {
  if (payload.size() < 8) {
    error = {errc::malformed, fmt::format("frame of {} bytes is too short", payload.size())};
    return nullptr;
  }
  flatbuffers::Verifier verifier(payload.data(), payload.size(), max_depth, max_tables);
  if (!wire::VerifyEnvelopeBuffer(verifier)) {
    error = {errc::malformed, "frame failed verification (not a qim Envelope)"};
    return nullptr;
  }
  const auto* envelope = wire::GetEnvelope(payload.data());
  if (envelope->body_type() == wire::Body::NONE || envelope->body() == nullptr) {
    error = {errc::malformed, "envelope has no body"};
    return nullptr;
  }
  return envelope;
}

std::span<const std::uint8_t> FrameBuilder::error(std::uint32_t req_id, errc code,
                                                  std::string_view message) {
  reset();
  auto text = fbb_.CreateString(message.data(), message.size());
  return finish(req_id, wire::CreateError(fbb_, to_wire(code), text));
}

std::vector<std::uint8_t> make_error_frame(std::uint32_t req_id, errc code,
                                           std::string_view message) {
  FrameBuilder builder(128 + message.size());
  auto bytes = builder.error(req_id, code, message);
  return {bytes.begin(), bytes.end()};
}

}  // namespace qim::proto
