#pragma once
// The one place where peer link frames are sealed and opened (XChaCha20-Poly1305 with the
// cluster key, auth::ClusterKey). No I/O: bytes in, bytes out.
//
// Associated data, which binds every sealed frame to its place in exactly one connection:
//   hello          "qim-peer-hello/1"                                      dialer -> acceptor
//   hello answer   "qim-peer-hello-ok/1" || challenge_a                    acceptor -> dialer
//   session frame  "qim-peer/1" || challenge_a || challenge_b || direction || u64 LE counter
// challenge_a and challenge_b are fresh random values of the dialer and the acceptor, so a
// frame cannot be replayed into another connection; the direction byte stops a frame from
// being reflected back to its sender; the counter (0, 1, 2, ... per direction, never sent:
// both sides count) stops replays, drops and reordering within the connection.
//
// A session frame's nonce is a random prefix drawn once per cipher followed by the frame's
// counter: unique under the cluster key like a random nonce, without a getrandom() system call
// per frame. (The nonce travels with the frame, so the receiver does not depend on how it is
// chosen.)
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "auth/cluster_key.h"
#include "proto/peer_frame.h"

namespace qim::net {

enum class PeerRole : std::uint8_t { dialer, acceptor };

// Session cipher of one established connection. Owned by that connection; used on its
// executor only. Each seal() and each successful open() advances its direction's counter.
class PeerCipher {
 public:
  // REQUIRES: both challenges are proto::peer_challenge_bytes long; `key` outlives this.
  PeerCipher(const auth::ClusterKey& key, PeerRole role, std::span<const std::uint8_t> challenge_a,
             std::span<const std::uint8_t> challenge_b);

  // nonce || ciphertext || tag of the next outgoing frame.
  std::vector<std::uint8_t> seal(std::span<const std::uint8_t> plaintext);
  // The plaintext of the next incoming frame, or nullopt when it was not sealed by the other
  // side of this connection as its next frame (the connection must then be closed: the
  // counter does not advance, so nothing after it can open either).
  std::optional<std::vector<std::uint8_t>> open(std::span<const std::uint8_t> sealed);

  std::uint64_t frames_sealed() const { return send_counter_; }
  std::uint64_t frames_opened() const { return receive_counter_; }

 private:
  static constexpr std::size_t label_bytes = 10;  // "qim-peer/1"
  static constexpr std::size_t associated_data_bytes =
      label_bytes + 2 * proto::peer_challenge_bytes + 1 + 8;

  // The associated data for `direction` and `counter`, written into associated_data_.
  std::span<const std::uint8_t> associated_data(std::uint8_t direction, std::uint64_t counter);

  static constexpr std::size_t nonce_prefix_bytes = auth::sealed_nonce_bytes - 8;

  const auth::ClusterKey* key_;
  std::array<std::uint8_t, auth::sealed_nonce_bytes> nonce_{};  // prefix || send counter
  std::uint8_t send_direction_;
  std::uint8_t receive_direction_;
  std::uint64_t send_counter_ = 0;
  std::uint64_t receive_counter_ = 0;
  std::array<std::uint8_t, associated_data_bytes> associated_data_{};
};

// Handshake sealing, before the session cipher exists.
std::vector<std::uint8_t> seal_peer_hello(const auth::ClusterKey& key,
                                          std::span<const std::uint8_t> plaintext);
std::optional<std::vector<std::uint8_t>> open_peer_hello(const auth::ClusterKey& key,
                                                         std::span<const std::uint8_t> sealed);
// REQUIRES: challenge_a is proto::peer_challenge_bytes long.
std::vector<std::uint8_t> seal_peer_hello_answer(const auth::ClusterKey& key,
                                                 std::span<const std::uint8_t> challenge_a,
                                                 std::span<const std::uint8_t> plaintext);
std::optional<std::vector<std::uint8_t>> open_peer_hello_answer(
    const auth::ClusterKey& key, std::span<const std::uint8_t> challenge_a,
    std::span<const std::uint8_t> sealed);

}  // namespace qim::net
