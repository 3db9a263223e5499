// Codec round trips and malformed input: the decoders must reject, never crash or over-allocate.
#include <catch2/catch.hpp>

#include "cluster/swim/codec.h"
#include "cluster/swim/random.h"

namespace swim = qim::cluster::swim;

namespace {

std::vector<swim::Message> sample_messages() {
  swim::NodeMeta meta{
      "10.0.0.1:5222", "10.0.0.1:7100", 3, 0x1122334455667788ull, 99, 64, true, 7443};
  return {
      swim::Ping{7, "node-b", "node-a"},
      swim::IndirectPing{8, "node-c", "10.0.0.3:7946", 400, true},
      swim::Ack{9},
      swim::Nack{10},
      swim::Alive{"node-a", "10.0.0.1:7946", meta, 1ULL << 40, 12},
      swim::Suspect{"node-c", 5, 3, "node-b"},
      swim::Dead{"node-c", 5, 3, "node-b", false},
      swim::Dead{"node-d", 6, 0, "node-d", true},
  };
}

std::vector<std::uint8_t> sample_datagram() {
  swim::DatagramBuilder builder(1400);
  for (const auto& message : sample_messages())
    REQUIRE(builder.append(swim::encode_message(message)));
  return std::move(builder).finish();
}

swim::PushPullState sample_state() {
  swim::PushPullState state;
  state.join = true;
  for (int i = 0; i < 5; ++i) {
    swim::Member member;
    member.name = "node-" + std::to_string(i);
    member.address = "10.0.0." + std::to_string(i) + ":7946";
    member.meta = {"c", "p", 1};
    member.restart_epoch = static_cast<std::uint64_t>(i) << 33;
    member.incarnation = static_cast<std::uint32_t>(i * 3);
    member.state = static_cast<swim::MemberState>(i % 4);
    state.members.push_back(member);
  }
  return state;
}

}  // namespace

TEST_CASE("codec: datagram round trip", "[codec]") {
  const auto bytes = sample_datagram();
  std::vector<swim::Message> decoded;
  REQUIRE(swim::decode_datagram(bytes, decoded) == swim::DecodeError::none);
  CHECK(decoded == sample_messages());
}

TEST_CASE("codec: push-pull state round trip", "[codec]") {
  const auto state = sample_state();
  swim::PushPullState decoded;
  REQUIRE(swim::decode_state(swim::encode_state(state), 100, decoded) == swim::DecodeError::none);
  CHECK(decoded == state);
}

TEST_CASE("codec: metadata before version 3 has no WebSocket port", "[codec]") {
  // A version-2 member's record ends after `draining`; it decodes with ws_port 0.
  swim::NodeMeta meta{"10.0.0.1:5222", "10.0.0.1:7100", 2, 5, 6, 64, false, 7443};
  swim::PushPullState state;
  swim::Member member;
  member.name = "old";
  member.address = "10.0.0.1:7946";
  member.meta = meta;
  state.members.push_back(member);
  swim::PushPullState decoded;
  REQUIRE(swim::decode_state(swim::encode_state(state), 10, decoded) == swim::DecodeError::none);
  REQUIRE(decoded.members.size() == 1);
  CHECK(decoded.members[0].meta.ws_port == 0);
  CHECK(decoded.members[0].meta.replica_id == 5);
}

TEST_CASE("codec: the datagram builder enforces the byte limit", "[codec]") {
  swim::DatagramBuilder builder(1400);
  const auto message =
      swim::encode_message(swim::Alive{std::string(64, 'n'), std::string(128, 'a'), {}, 1, 1});
  int appended = 0;
  while (builder.append(message))
    ++appended;
  CHECK(appended > 0);
  CHECK(builder.size_bytes() <= 1400);
  const auto bytes = std::move(builder).finish();
  std::vector<swim::Message> decoded;
  REQUIRE(swim::decode_datagram(bytes, decoded) == swim::DecodeError::none);
  CHECK(decoded.size() == static_cast<std::size_t>(appended));
}

TEST_CASE("codec: every truncation of a datagram is rejected", "[codec]") {
  const auto bytes = sample_datagram();
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    std::vector<swim::Message> decoded;
    CAPTURE(length);
    CHECK(swim::decode_datagram(std::span(bytes.data(), length), decoded) !=
          swim::DecodeError::none);
  }
}

TEST_CASE("codec: every truncation of a state is rejected", "[codec]") {
  const auto bytes = swim::encode_state(sample_state());
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    swim::PushPullState decoded;
    CAPTURE(length);
    CHECK(swim::decode_state(std::span(bytes.data(), length), 100, decoded) !=
          swim::DecodeError::none);
  }
}

TEST_CASE("codec: hostile lengths and counts are rejected", "[codec]") {
  // A state claiming four billion members in a few bytes must not allocate for them.
  std::vector<std::uint8_t> huge = {'P', 1, 0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3};
  swim::PushPullState state;
  CHECK(swim::decode_state(huge, 10'000, state) == swim::DecodeError::too_many);
  std::vector<std::uint8_t> claims_many = {'P', 1, 0, 200, 0, 0, 0, 1, 2, 3};
  CHECK(swim::decode_state(claims_many, 10'000, state) == swim::DecodeError::truncated);
  // A message whose length runs past the datagram.
  std::vector<std::uint8_t> long_body = {'S', 1, 1, 3, 0xff, 0xff, 1, 2, 3, 4};
  std::vector<swim::Message> decoded;
  CHECK(swim::decode_datagram(long_body, decoded) == swim::DecodeError::truncated);
  // An unknown message type, a bad magic, trailing garbage, an out-of-range enum.
  std::vector<std::uint8_t> unknown = {'S', 1, 1, 99, 0, 0};
  CHECK(swim::decode_datagram(unknown, decoded) == swim::DecodeError::unknown_type);
  std::vector<std::uint8_t> bad_magic = {'X', 1, 0};
  CHECK(swim::decode_datagram(bad_magic, decoded) == swim::DecodeError::bad_magic);
  std::vector<std::uint8_t> trailing = {'S', 1, 0, 0};
  CHECK(swim::decode_datagram(trailing, decoded) == swim::DecodeError::bad_length);
  auto bad_state = swim::encode_state(sample_state());
  bad_state.back() = 9;  // The last member's state byte.
  CHECK(swim::decode_state(bad_state, 100, state) == swim::DecodeError::bad_value);
  // A string length larger than its body.
  std::vector<std::uint8_t> bad_string = {'S', 1, 1, 1, 6, 0, 7, 0, 0, 0, 60, 'a'};
  CHECK(swim::decode_datagram(bad_string, decoded) != swim::DecodeError::none);
}

TEST_CASE("codec: random bytes and mutations never crash the decoders", "[codec]") {
  const std::uint64_t seed = 0x5eed;
  INFO("seed " << seed);
  swim::Random random(seed);
  const auto datagram = sample_datagram();
  const auto state = swim::encode_state(sample_state());
  for (int round = 0; round < 20'000; ++round) {
    std::vector<std::uint8_t> bytes;
    if (round % 3 == 0) {
      bytes.resize(random.below(64));
      for (auto& byte : bytes)
        byte = static_cast<std::uint8_t>(random.next());
    } else {
      bytes = round % 3 == 1 ? datagram : state;
      const int flips = 1 + static_cast<int>(random.below(4));
      for (int i = 0; i < flips; ++i) {
        bytes[random.below(bytes.size())] = static_cast<std::uint8_t>(random.next());
      }
      if (random.chance(0.3)) bytes.resize(random.below(bytes.size() + 1));
    }
    std::vector<swim::Message> messages;
    (void)swim::decode_datagram(bytes, messages);
    CHECK(messages.size() <= swim::kMaxMessagesPerDatagram);
    swim::PushPullState decoded;
    (void)swim::decode_state(bytes, 10'000, decoded);
    CHECK(decoded.members.size() <= 10'000);
  }
}
