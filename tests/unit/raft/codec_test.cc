// The ConfigChange encoding carried in config_change entries.
#include <catch2/catch.hpp>

#include "replication/raft/codec.h"

using namespace qim::replication::raft;

TEST_CASE("config changes round-trip through their encoding", "[raft][codec]") {
  for (ConfigChangeKind kind :
       {ConfigChangeKind::add_learner, ConfigChangeKind::promote, ConfigChangeKind::remove}) {
    for (NodeId node : {NodeId{1}, NodeId{0x0102030405060708}, ~NodeId{0}}) {
      const ConfigChange change{kind, node};
      const std::string bytes = encode(change);
      REQUIRE(bytes.size() == kConfigChangeBytes);
      ConfigChange decoded;
      REQUIRE(decode(bytes, decoded));
      CHECK(decoded == change);
    }
  }
}

TEST_CASE("the encoding is little-endian after a version and a kind byte", "[raft][codec]") {
  const std::string bytes = encode(ConfigChange{ConfigChangeKind::remove, 0x0102030405060708});
  CHECK(bytes == std::string("\x01\x02\x08\x07\x06\x05\x04\x03\x02\x01", 10));
}

TEST_CASE("malformed config change encodings are refused", "[raft][codec]") {
  const std::string good = encode(ConfigChange{ConfigChangeKind::promote, 7});
  ConfigChange change;
  CHECK_FALSE(decode("", change));
  CHECK_FALSE(decode(good.substr(0, 9), change));
  CHECK_FALSE(decode(good + "x", change));
  std::string bad_version = good;
  bad_version[0] = 2;
  CHECK_FALSE(decode(bad_version, change));
  std::string bad_kind = good;
  bad_kind[1] = 3;
  CHECK_FALSE(decode(bad_kind, change));
  CHECK_FALSE(decode(encode(ConfigChange{ConfigChangeKind::promote, 0}), change));
}
