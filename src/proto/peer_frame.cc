#include "proto/peer_frame.h"

#include <fmt/core.h>

namespace qim::proto {

namespace {
// Bounds on what a 4 MiB payload may ask the verifier to walk.
constexpr flatbuffers::uoffset_t max_depth = 32;
constexpr flatbuffers::uoffset_t max_tables = 1'000'000;
}  // namespace

const peer_wire::PeerEnvelope* verify_peer_envelope(std::span<const std::uint8_t> payload,
                                                    Error& error) {
  if (payload.size() < 8) {
    error = {errc::malformed, fmt::format("peer payload of {} bytes is too short", payload.size())};
    return nullptr;
  }
  flatbuffers::Verifier verifier(payload.data(), payload.size(), max_depth, max_tables);
  if (!peer_wire::VerifyPeerEnvelopeBuffer(verifier)) {
    error = {errc::malformed, "peer payload failed verification (not a qim PeerEnvelope)"};
    return nullptr;
  }
  const auto* envelope = peer_wire::GetPeerEnvelope(payload.data());
  if (envelope->body_type() == peer_wire::PeerBody::NONE || envelope->body() == nullptr) {
    error = {errc::malformed, "peer envelope has no body"};
    return nullptr;
  }
  auto kind = static_cast<std::uint8_t>(envelope->kind());
  if (kind > static_cast<std::uint8_t>(peer_wire::PeerKind::MAX)) {
    error = {errc::malformed, fmt::format("peer envelope kind {} is unknown", kind)};
    return nullptr;
  }
  return envelope;
}

bool stamp_peer_envelope(std::span<std::uint8_t> payload, std::uint32_t req_id,
                         peer_wire::PeerKind kind) {
  auto* table = flatbuffers::GetMutableRoot<flatbuffers::Table>(payload.data());
  // SetField only overwrites a field that is present; it never grows the buffer.
  return table->SetField<std::uint32_t>(peer_wire::PeerEnvelope::VT_REQ_ID, req_id, 0) &&
         table->SetField<std::uint8_t>(peer_wire::PeerEnvelope::VT_KIND,
                                       static_cast<std::uint8_t>(kind), 0);
}

PeerMessage PeerMessage::verify(std::vector<std::uint8_t> payload, Error& error) {
  PeerMessage message;
  const auto* envelope = verify_peer_envelope(payload, error);
  if (!envelope) return message;
  message.payload_ = std::move(payload);
  // A moved vector keeps its heap buffer, so the offset into it stays valid.
  message.envelope_ = peer_wire::GetPeerEnvelope(message.payload_.data());
  return message;
}

std::vector<std::uint8_t> PeerMessage::release() {
  envelope_ = nullptr;
  return std::move(payload_);
}

std::vector<std::uint8_t> PeerFrameBuilder::error(std::uint32_t req_id, peer_wire::PeerKind kind,
                                                  errc code, std::string_view message) {
  reset();
  auto text = fbb_.CreateString(message.data(), message.size());
  return finish_owned(req_id, kind, peer_wire::CreatePeerError(fbb_, to_wire(code), text));
}

std::vector<std::uint8_t> PeerFrameBuilder::ping(std::uint64_t nonce) {
  reset();
  return finish_owned(0, peer_wire::PeerKind::Oneway, peer_wire::CreatePeerPing(fbb_, nonce));
}

std::vector<std::uint8_t> PeerFrameBuilder::pong(std::uint64_t nonce) {
  reset();
  return finish_owned(0, peer_wire::PeerKind::Oneway, peer_wire::CreatePeerPong(fbb_, nonce));
}

}  // namespace qim::proto
