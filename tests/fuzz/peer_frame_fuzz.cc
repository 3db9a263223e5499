// Fuzzes the peer link decoders: the handshake (hello and its answer), the session cipher's
// opening and the PeerEnvelope verifier, each followed by a read of every field of whatever
// verified. The first input byte picks the path; the rest is a stream of u32 LE length ||
// bytes frames, cut as a peer connection cuts them.
//   0  acceptor, plaintexts: each frame is sealed here with the test key (the fuzzer cannot
//      forge tags), the first as a hello for answer_peer_hello, the rest as the dialer's
//      session frames, which the acceptor's cipher opens and verifies.
//   1  dialer, plaintexts: the first frame sealed as the acceptor's answer for
//      open_peer_answer, the rest as the acceptor's session frames.
//   2  acceptor, raw: the frames are taken as already sealed (tampered, replayed, truncated).
// Nothing may crash, read out of bounds or hang, and every refusal must say why.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "auth/cluster_key.h"
#include "auth/password.h"
#include "net/peer_cipher.h"
#include "net/peer_handshake.h"
#include "proto/peer_frame.h"

namespace {

using namespace qim;

struct Sink {
  std::uint64_t value = 0;
  void add(std::uint64_t x) { value = value * 1099511628211ull + x; }
  void add(std::string_view text) {
    add(text.size());
    for (char c : text)
      add(static_cast<std::uint8_t>(c));
  }
  void add(std::span<const std::uint8_t> bytes) {
    add(bytes.size());
    for (auto byte : bytes)
      add(byte);
  }
};

// The fixed key and challenges the seeds in make_corpus.cc agree with.
const auth::ClusterKey& test_key() {
  static const auth::ClusterKey key = [] {
    if (!auth::initialize()) std::abort();
    std::array<std::uint8_t, auth::cluster_key_bytes> bytes;
    bytes.fill(0x42);
    return auth::ClusterKey(bytes);
  }();
  return key;
}

std::array<std::uint8_t, proto::peer_challenge_bytes> challenge(std::uint8_t fill) {
  std::array<std::uint8_t, proto::peer_challenge_bytes> value;
  value.fill(fill);
  return value;
}

class Directory final : public net::PeerDirectory {
 public:
  std::string local_name() const override { return "b"; }
  std::optional<std::string> peer_address(std::string_view node) const override {
    if (node == "a") return std::string("127.0.0.1:7703");
    return std::nullopt;
  }
};

void read_envelope(const peer_wire::PeerEnvelope& envelope, Sink& sink) {
  sink.add(envelope.req_id());
  sink.add(static_cast<std::uint64_t>(envelope.kind()));
  sink.add(static_cast<std::uint64_t>(envelope.body_type()));
  if (const auto* hello = envelope.body_as_PeerHello()) {
    sink.add(proto::view(hello->node_name()));
    sink.add(hello->restart_epoch());
    sink.add(hello->protocol_version());
    sink.add(proto::view(hello->challenge_a()));
    sink.add(proto::view(hello->peer_address()));
  } else if (const auto* ok = envelope.body_as_PeerHelloOk()) {
    sink.add(proto::view(ok->node_name()));
    sink.add(ok->restart_epoch());
    sink.add(ok->protocol_version());
    sink.add(proto::view(ok->challenge_b()));
  } else if (const auto* error = envelope.body_as_PeerError()) {
    sink.add(static_cast<std::uint64_t>(error->code()));
    sink.add(proto::view(error->message()));
    sink.add(static_cast<std::uint64_t>(proto::from_wire(error->code())));
  } else if (const auto* ping = envelope.body_as_PeerPing()) {
    sink.add(ping->nonce());
  } else if (const auto* pong = envelope.body_as_PeerPong()) {
    sink.add(pong->nonce());
  }
}

// Verifies an opened payload and reads it; a refusal must be Malformed with a reason.
void verify_and_read(std::vector<std::uint8_t> plaintext, Sink& sink) {
  Error error;
  auto message = proto::PeerMessage::verify(std::move(plaintext), error);
  if (!message.valid()) {
    if (error.code != errc::malformed || error.message.empty()) std::abort();
    return;
  }
  read_envelope(message.envelope(), sink);
  // Stamping writes in place and never past the buffer. (A hostile buffer may overlap req_id
  // with other fields, so the result need not verify: only locally built envelopes are
  // stamped for sending, and receivers verify everything anyway.)
  auto bytes = message.release();
  if (proto::stamp_peer_envelope(bytes, 7, peer_wire::PeerKind::Reply)) {
    Error again;
    if (const auto* stamped = proto::verify_peer_envelope(bytes, again)) {
      read_envelope(*stamped, sink);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const int mode = data[0] % 3;
  ++data;
  --size;
  const auto& key = test_key();
  const auto challenge_a = challenge(0xaa);
  const auto challenge_b = challenge(0xbb);
  Directory directory;
  const net::PeerIdentity local{"b", 2, "127.0.0.1:7713"};
  Sink sink;
  // The session ciphers of both ends, once a handshake succeeded (or, raw, from the start).
  std::optional<net::PeerCipher> sender;
  std::optional<net::PeerCipher> receiver;
  if (mode == 2) {
    receiver.emplace(key, net::PeerRole::acceptor, challenge_a, challenge_b);
  }
  bool first = true;
  while (size >= proto::frame_header_bytes) {
    std::uint32_t length = proto::decode_frame_length(data);
    data += proto::frame_header_bytes;
    size -= proto::frame_header_bytes;
    if (length > proto::default_peer_max_frame_bytes || length > size) break;
    std::span<const std::uint8_t> frame(data, length);
    data += length;
    size -= length;

    if (first && mode == 0) {
      auto sealed = net::seal_peer_hello(key, frame);
      auto result = net::answer_peer_hello(key, directory, local, challenge_b, sealed);
      if (!result.cipher && result.error.message.empty()) std::abort();
      sink.add(result.answer);
      if (result.cipher) {
        // The acceptor keyed its cipher with the hello's challenge: the dialer's must match.
        std::vector<std::uint8_t> hello(frame.begin(), frame.end());
        Error error;
        const auto* envelope = proto::verify_peer_envelope(hello, error);
        if (!envelope || !envelope->body_as_PeerHello()) std::abort();
        receiver = std::move(result.cipher);
        sender.emplace(key, net::PeerRole::dialer,
                       proto::view(envelope->body_as_PeerHello()->challenge_a()), challenge_b);
      }
    } else if (first && mode == 1) {
      auto sealed = net::seal_peer_hello_answer(key, challenge_a, frame);
      auto result = net::open_peer_answer(key, challenge_a, "b", sealed);
      if (!result.cipher && result.error.message.empty()) std::abort();
      if (result.cipher) {
        std::vector<std::uint8_t> answer(frame.begin(), frame.end());
        Error error;
        const auto* envelope = proto::verify_peer_envelope(answer, error);
        if (!envelope || !envelope->body_as_PeerHelloOk()) std::abort();
        receiver = std::move(result.cipher);
        sender.emplace(key, net::PeerRole::acceptor, challenge_a,
                       proto::view(envelope->body_as_PeerHelloOk()->challenge_b()));
      }
    } else if (first && mode == 2) {
      auto result = net::answer_peer_hello(key, directory, local, challenge_b, frame);
      if (!result.cipher && result.error.message.empty()) std::abort();
      sink.add(result.answer);
    } else if (receiver) {
      std::optional<std::vector<std::uint8_t>> opened;
      if (sender) {
        opened = receiver->open(sender->seal(frame));
        if (!opened) std::abort();  // in order, same connection: must open
      } else {
        opened = receiver->open(frame);
      }
      if (opened) verify_and_read(std::move(*opened), sink);
    } else {
      // No session: the plaintext still goes through the verifier.
      std::vector<std::uint8_t> copy(frame.begin(), frame.end());
      verify_and_read(std::move(copy), sink);
    }
    first = false;
  }
  volatile std::uint64_t keep = sink.value;
  (void)keep;
  return 0;
}
