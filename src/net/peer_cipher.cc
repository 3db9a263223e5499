#include "net/peer_cipher.h"

#include <sodium.h>

#include <cassert>
#include <cstring>
#include <string_view>

namespace qim::net {

namespace {

constexpr std::string_view session_label = "qim-peer/1";
constexpr std::string_view hello_label = "qim-peer-hello/1";
constexpr std::string_view hello_answer_label = "qim-peer-hello-ok/1";

// Direction bytes: what the sender was. Distinct values, so a frame sealed by one side never
// opens as one sealed by the other.
constexpr std::uint8_t from_dialer = 1;
constexpr std::uint8_t from_acceptor = 2;

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::vector<std::uint8_t> hello_answer_associated_data(std::span<const std::uint8_t> challenge_a) {
  std::vector<std::uint8_t> data(hello_answer_label.size() + challenge_a.size());
  std::memcpy(data.data(), hello_answer_label.data(), hello_answer_label.size());
  std::memcpy(data.data() + hello_answer_label.size(), challenge_a.data(), challenge_a.size());
  return data;
}

}  // namespace

PeerCipher::PeerCipher(const auth::ClusterKey& key, PeerRole role,
                       std::span<const std::uint8_t> challenge_a,
                       std::span<const std::uint8_t> challenge_b)
    : key_(&key),
      send_direction_(role == PeerRole::dialer ? from_dialer : from_acceptor),
      receive_direction_(role == PeerRole::dialer ? from_acceptor : from_dialer) {
  static_assert(session_label.size() == label_bytes);
  assert(challenge_a.size() == proto::peer_challenge_bytes);
  assert(challenge_b.size() == proto::peer_challenge_bytes);
  randombytes_buf(nonce_.data(), nonce_prefix_bytes);
  auto* out = associated_data_.data();
  std::memcpy(out, session_label.data(), label_bytes);
  std::memcpy(out + label_bytes, challenge_a.data(), proto::peer_challenge_bytes);
  std::memcpy(out + label_bytes + proto::peer_challenge_bytes, challenge_b.data(),
              proto::peer_challenge_bytes);
}

std::span<const std::uint8_t> PeerCipher::associated_data(std::uint8_t direction,
                                                          std::uint64_t counter) {
  std::size_t at = label_bytes + 2 * proto::peer_challenge_bytes;
  associated_data_[at++] = direction;
  for (int shift = 0; shift < 64; shift += 8)
    associated_data_[at++] = static_cast<std::uint8_t>(counter >> shift);
  return associated_data_;
}

std::vector<std::uint8_t> PeerCipher::seal(std::span<const std::uint8_t> plaintext) {
  for (std::size_t i = 0; i < 8; ++i)
    nonce_[nonce_prefix_bytes + i] = static_cast<std::uint8_t>(send_counter_ >> (8 * i));
  auto sealed = key_->seal(plaintext, associated_data(send_direction_, send_counter_), nonce_);
  ++send_counter_;
  return sealed;
}

std::optional<std::vector<std::uint8_t>> PeerCipher::open(std::span<const std::uint8_t> sealed) {
  auto plaintext = key_->open(sealed, associated_data(receive_direction_, receive_counter_));
  if (plaintext) ++receive_counter_;
  return plaintext;
}

std::vector<std::uint8_t> seal_peer_hello(const auth::ClusterKey& key,
                                          std::span<const std::uint8_t> plaintext) {
  return key.seal(plaintext, bytes_of(hello_label));
}

std::optional<std::vector<std::uint8_t>> open_peer_hello(const auth::ClusterKey& key,
                                                         std::span<const std::uint8_t> sealed) {
  return key.open(sealed, bytes_of(hello_label));
}

std::vector<std::uint8_t> seal_peer_hello_answer(const auth::ClusterKey& key,
                                                 std::span<const std::uint8_t> challenge_a,
                                                 std::span<const std::uint8_t> plaintext) {
  return key.seal(plaintext, hello_answer_associated_data(challenge_a));
}

std::optional<std::vector<std::uint8_t>> open_peer_hello_answer(
    const auth::ClusterKey& key, std::span<const std::uint8_t> challenge_a,
    std::span<const std::uint8_t> sealed) {
  return key.open(sealed, hello_answer_associated_data(challenge_a));
}

}  // namespace qim::net
