#include "net/peer_handshake.h"

#include <algorithm>

#include <fmt/core.h>

#include "proto/peer_frame.h"

namespace qim::net {

namespace {

using proto::view;
namespace wire = peer_wire;

// A name or an address from a handshake, checked before it is used anywhere.
bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= proto::peer_max_name_bytes;
}

std::vector<std::uint8_t> sealed_error(const auth::ClusterKey& key,
                                       std::span<const std::uint8_t> challenge_a, errc code,
                                       std::string_view message) {
  proto::PeerFrameBuilder builder(128 + message.size());
  auto payload = builder.error(0, wire::PeerKind::Reply, code, message);
  return seal_peer_hello_answer(key, challenge_a, payload);
}

PeerHandshakeResult refuse(errc code, std::string message) {
  PeerHandshakeResult result;
  result.error = {code, std::move(message)};
  return result;
}

}  // namespace

std::vector<std::uint8_t> make_peer_hello(const auth::ClusterKey& key, const PeerIdentity& local,
                                          std::span<const std::uint8_t> challenge_a) {
  proto::PeerFrameBuilder builder;
  auto& fbb = builder.fbb();
  auto name = fbb.CreateString(local.node_name);
  auto challenge = fbb.CreateVector(challenge_a.data(), challenge_a.size());
  auto address = fbb.CreateString(local.peer_address);
  auto payload =
      builder.finish(0, wire::PeerKind::Request,
                     wire::CreatePeerHello(fbb, name, local.restart_epoch,
                                           proto::peer_protocol_version, challenge, address));
  return seal_peer_hello(key, payload);
}

PeerHandshakeResult answer_peer_hello(const auth::ClusterKey& key, const PeerDirectory& directory,
                                      const PeerIdentity& local,
                                      std::span<const std::uint8_t> challenge_b,
                                      std::span<const std::uint8_t> sealed_hello) {
  auto plaintext = open_peer_hello(key, sealed_hello);
  if (!plaintext) {
    return refuse(errc::auth_failed, "hello does not open with the cluster key");
  }
  Error error;
  auto message = proto::PeerMessage::verify(std::move(*plaintext), error);
  if (!message.valid()) return refuse(errc::malformed, "hello: " + error.message);
  const auto* hello = message.envelope().body_as_PeerHello();
  if (!hello) return refuse(errc::hello_required, "the first frame on a peer link must be a hello");
  auto challenge_a = view(hello->challenge_a());
  if (challenge_a.size() != proto::peer_challenge_bytes) {
    return refuse(errc::malformed, fmt::format("hello: challenge_a has {} bytes, {} expected",
                                               challenge_a.size(), proto::peer_challenge_bytes));
  }
  // From here on the dialer holds the key and can read a sealed refusal.
  auto name = view(hello->node_name());
  auto address = view(hello->peer_address());
  auto refuse_with_answer = [&](errc code, std::string text) {
    auto result = refuse(code, text);
    result.answer = sealed_error(key, challenge_a, code, text);
    return result;
  };
  if (!valid_name(name) || address.size() > proto::peer_max_address_bytes) {
    return refuse_with_answer(errc::invalid_argument, "hello: node_name or peer_address too long");
  }
  if (hello->protocol_version() < 1) {
    return refuse_with_answer(errc::unsupported_version,
                              fmt::format("hello: protocol_version {} is not supported (this "
                                          "node speaks {})",
                                          hello->protocol_version(), proto::peer_protocol_version));
  }
  if (name == local.node_name) {
    return refuse_with_answer(errc::invalid_argument,
                              fmt::format("hello: node_name '{}' is this node's own name", name));
  }
  auto advertised = directory.peer_address(name);
  if (!advertised) {
    return refuse_with_answer(errc::not_member,
                              fmt::format("hello: '{}' is not a live member here", name));
  }
  if (*advertised != address) {
    return refuse_with_answer(errc::forbidden,
                              fmt::format("hello: '{}' advertises peer address '{}', the hello "
                                          "claims '{}'",
                                          name, *advertised, address));
  }

  PeerHandshakeResult result;
  result.remote_name = std::string(name);
  result.remote_restart_epoch = hello->restart_epoch();
  result.protocol_version = std::min(hello->protocol_version(), proto::peer_protocol_version);
  proto::PeerFrameBuilder builder;
  auto& fbb = builder.fbb();
  auto local_name = fbb.CreateString(local.node_name);
  auto challenge = fbb.CreateVector(challenge_b.data(), challenge_b.size());
  auto payload = builder.finish(0, wire::PeerKind::Reply,
                                wire::CreatePeerHelloOk(fbb, local_name, local.restart_epoch,
                                                        result.protocol_version, challenge));
  result.answer = seal_peer_hello_answer(key, challenge_a, payload);
  result.cipher.emplace(key, PeerRole::acceptor, challenge_a, challenge_b);
  return result;
}

PeerHandshakeResult open_peer_answer(const auth::ClusterKey& key,
                                     std::span<const std::uint8_t> challenge_a,
                                     std::string_view expected_name,
                                     std::span<const std::uint8_t> sealed_answer) {
  auto plaintext = open_peer_hello_answer(key, challenge_a, sealed_answer);
  if (!plaintext) return refuse(errc::auth_failed, "hello answer does not open");
  Error error;
  auto message = proto::PeerMessage::verify(std::move(*plaintext), error);
  if (!message.valid()) return refuse(errc::malformed, "hello answer: " + error.message);
  const auto& envelope = message.envelope();
  if (const auto* refusal = envelope.body_as_PeerError()) {
    auto code = proto::from_wire(refusal->code());
    return refuse(code == errc::ok ? errc::internal : code,
                  fmt::format("refused: {}", view(refusal->message())));
  }
  const auto* ok = envelope.body_as_PeerHelloOk();
  if (!ok) return refuse(errc::unexpected_message, "hello answer is neither HelloOk nor Error");
  auto challenge_b = view(ok->challenge_b());
  if (challenge_b.size() != proto::peer_challenge_bytes) {
    return refuse(errc::malformed,
                  fmt::format("hello answer: challenge_b has {} bytes", challenge_b.size()));
  }
  auto name = view(ok->node_name());
  if (name != expected_name) {
    return refuse(errc::wrong_node,
                  fmt::format("dialled '{}' but '{}' answered", expected_name, name.substr(0, 64)));
  }
  if (ok->protocol_version() < 1 || ok->protocol_version() > proto::peer_protocol_version) {
    return refuse(errc::unsupported_version,
                  fmt::format("hello answer: protocol_version {}", ok->protocol_version()));
  }
  PeerHandshakeResult result;
  result.remote_name = std::string(name);
  result.remote_restart_epoch = ok->restart_epoch();
  result.protocol_version = ok->protocol_version();
  result.cipher.emplace(key, PeerRole::dialer, challenge_a, challenge_b);
  return result;
}

}  // namespace qim::net
