#pragma once
// The peer link handshake as plain functions: bytes and identities in, a session cipher or a
// refusal out. No I/O and no randomness of its own (the challenges are arguments), so tests
// and the fuzzer drive it directly; net/peer_links.cc moves the bytes.
//
//   dialer                                            acceptor
//   seal_hello(PeerHello{name, epoch, version,  ──►   open with the cluster key; the name must
//              challenge_a, peer_address})            be a live member advertising exactly
//                                                     peer_address (PeerDirectory)
//                                               ◄──   PeerHelloOk{name, epoch, version,
//   open with AD bound to challenge_a; the name       challenge_b}, or PeerError and close
//   must be the node we meant to dial
//   ...then session frames through PeerCipher, counters from 0 in each direction.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "auth/cluster_key.h"
#include "net/peer_cipher.h"
#include "net/peer_directory.h"
#include "qim/errc.h"

namespace qim::net {

// How a node introduces itself on a link.
struct PeerIdentity {
  std::string node_name;
  std::uint64_t restart_epoch = 0;
  std::string peer_address;  // the advertised "ip:port" of its peer listener
};

struct PeerHandshakeResult {
  // Set when the link is up.
  std::optional<PeerCipher> cipher;
  std::string remote_name;
  std::uint64_t remote_restart_epoch = 0;
  std::uint32_t protocol_version = 0;
  // Why the link is not up (when cipher is unset).
  Error error;
  // Acceptor only: the sealed answer to write back (PeerHelloOk, or a PeerError before the
  // close). Empty when the hello did not open: a sender without our key gets nothing.
  std::vector<std::uint8_t> answer;
};

// Dialer, step 1: the sealed PeerHello.
// REQUIRES: challenge_a is proto::peer_challenge_bytes long.
std::vector<std::uint8_t> make_peer_hello(const auth::ClusterKey& key, const PeerIdentity& local,
                                          std::span<const std::uint8_t> challenge_a);

// Acceptor: opens and checks a sealed PeerHello and prepares the answer.
// REQUIRES: challenge_b is proto::peer_challenge_bytes long.
PeerHandshakeResult answer_peer_hello(const auth::ClusterKey& key, const PeerDirectory& directory,
                                      const PeerIdentity& local,
                                      std::span<const std::uint8_t> challenge_b,
                                      std::span<const std::uint8_t> sealed_hello);

// Dialer, step 2: opens and checks the acceptor's answer. `expected_name` is the member the
// dialer meant to reach; an answer from anyone else (an address reused by another node) is
// refused.
PeerHandshakeResult open_peer_answer(const auth::ClusterKey& key,
                                     std::span<const std::uint8_t> challenge_a,
                                     std::string_view expected_name,
                                     std::span<const std::uint8_t> sealed_answer);

}  // namespace qim::net
