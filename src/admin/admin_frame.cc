#include "admin/admin_frame.h"

#include <fmt/core.h>

#include "proto/frame.h"

namespace qim::admin {
namespace {
// Bounds on what a frame may ask the verifier to walk. A member list of a large cluster or a
// big group's roster is a few thousand tables.
constexpr flatbuffers::uoffset_t max_depth = 16;
constexpr flatbuffers::uoffset_t max_tables = 200'000;
}  // namespace

const admin_wire::AdminEnvelope* verify_admin_envelope(std::span<const std::uint8_t> payload,
                                                       Error& error) {
  if (payload.size() < 8) {
    error = {errc::malformed, fmt::format("frame of {} bytes is too short", payload.size())};
    return nullptr;
  }
  flatbuffers::Verifier verifier(payload.data(), payload.size(), max_depth, max_tables);
  if (!admin_wire::VerifyAdminEnvelopeBuffer(verifier)) {
    error = {errc::malformed, "frame failed verification (not a qim AdminEnvelope)"};
    return nullptr;
  }
  const auto* envelope = admin_wire::GetAdminEnvelope(payload.data());
  if (envelope->body_type() == admin_wire::AdminBody::NONE || envelope->body() == nullptr) {
    error = {errc::malformed, "envelope has no body"};
    return nullptr;
  }
  return envelope;
}

std::span<const std::uint8_t> AdminFrameBuilder::error(std::uint32_t req_id, errc code,
                                                       std::string_view message) {
  reset();
  auto text = fbb_.CreateString(message.data(), message.size());
  return finish(req_id, admin_wire::CreateAdminError(fbb_, proto::to_wire(code), text));
}

}  // namespace qim::admin
