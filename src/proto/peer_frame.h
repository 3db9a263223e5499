#pragma once
// Peer link envelopes (schemas/peer.fbs): building, stamping and verifying the plaintext
// payloads that net/ seals into frames. Bytes in, verified values out; no I/O and no crypto
// here (sealing lives in net/peer_cipher.h).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/frame.h"
#include "qim/errc.h"
#include "qim/schemas/peer_generated.h"

namespace qim::proto {

inline constexpr std::uint32_t peer_protocol_version = 1;
// Size of each side's handshake challenge.
inline constexpr std::size_t peer_challenge_bytes = 32;
// Longest node name and advertised address a handshake may carry.
inline constexpr std::size_t peer_max_name_bytes = 64;
inline constexpr std::size_t peer_max_address_bytes = 128;

// Verifies one opened peer payload and returns its envelope, or nullptr with `error` saying
// why. Union members this build does not know verify (forward compatibility); the caller
// decides what to do with them. The envelope points into `payload`.
// REQUIRES: payload.data() is 8-byte aligned (FlatBuffers reads scalars in place).
const peer_wire::PeerEnvelope* verify_peer_envelope(std::span<const std::uint8_t> payload,
                                                    Error& error);

// Overwrites req_id and kind of a verified envelope in place. Envelopes built by
// PeerFrameBuilder always carry both fields, so this succeeds on them; false when a field is
// absent (an envelope built elsewhere with default values omitted).
// REQUIRES: verify_peer_envelope(payload) succeeded.
bool stamp_peer_envelope(std::span<std::uint8_t> payload, std::uint32_t req_id,
                         peer_wire::PeerKind kind);

// Owns the bytes of one verified envelope. Moving keeps the envelope valid (the buffer moves
// with it); copying is not allowed because the envelope points into the buffer.
class PeerMessage {
 public:
  PeerMessage() = default;
  PeerMessage(PeerMessage&& other) noexcept
      : payload_(std::move(other.payload_)), envelope_(std::exchange(other.envelope_, nullptr)) {}
  PeerMessage& operator=(PeerMessage&& other) noexcept {
    payload_ = std::move(other.payload_);
    envelope_ = std::exchange(other.envelope_, nullptr);
    return *this;
  }
  PeerMessage(const PeerMessage&) = delete;
  PeerMessage& operator=(const PeerMessage&) = delete;

  // Takes `payload` if it verifies; otherwise an empty message with `error` set.
  static PeerMessage verify(std::vector<std::uint8_t> payload, Error& error);

  bool valid() const { return envelope_ != nullptr; }
  // REQUIRES: valid().
  const peer_wire::PeerEnvelope& envelope() const { return *envelope_; }
  std::span<const std::uint8_t> bytes() const { return payload_; }
  // Gives the buffer back (for stamping and re-sending); the message is empty afterwards.
  std::vector<std::uint8_t> release();

 private:
  std::vector<std::uint8_t> payload_;
  const peer_wire::PeerEnvelope* envelope_ = nullptr;
};

// Builds unsealed PeerEnvelope payloads (no length prefix: net/ seals and frames them).
// Reusable: each finish() starts over after reset(). Not thread-safe; one per task or thread.
//
// req_id and kind are always written, even when they hold their default values, so that the
// link layer can stamp the request id and the kind it assigns (call/post/replies) in place.
class PeerFrameBuilder {
 public:
  explicit PeerFrameBuilder(std::size_t initial_bytes = 256) : fbb_(initial_bytes) {}

  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  // Finishes the envelope around `body`; the returned bytes stay valid until the next call on
  // this builder.
  template <typename T>
  std::span<const std::uint8_t> finish(std::uint32_t req_id, peer_wire::PeerKind kind,
                                       flatbuffers::Offset<T> body) {
    fbb_.ForceDefaults(true);
    auto envelope = peer_wire::CreatePeerEnvelope(
        fbb_, req_id, kind, peer_wire::PeerBodyTraits<T>::enum_value, body.Union());
    fbb_.ForceDefaults(false);
    peer_wire::FinishPeerEnvelopeBuffer(fbb_, envelope);
    return {fbb_.GetBufferPointer(), fbb_.GetSize()};
  }

  // finish() copied out, for the APIs that take ownership of a payload.
  template <typename T>
  std::vector<std::uint8_t> finish_owned(std::uint32_t req_id, peer_wire::PeerKind kind,
                                         flatbuffers::Offset<T> body) {
    auto bytes = finish(req_id, kind, body);
    return {bytes.begin(), bytes.end()};
  }

  // REQUIRES: called before building the next payload.
  void reset() { fbb_.Clear(); }

  // Whole payloads for the messages the link layer speaks itself.
  std::vector<std::uint8_t> error(std::uint32_t req_id, peer_wire::PeerKind kind, errc code,
                                  std::string_view message);
  std::vector<std::uint8_t> ping(std::uint64_t nonce);
  std::vector<std::uint8_t> pong(std::uint64_t nonce);

 private:
  flatbuffers::FlatBufferBuilder fbb_;
};

}  // namespace qim::proto
