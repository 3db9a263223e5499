#include <catch2/catch.hpp>

#include "qim/ids.h"

using namespace qim;

TEST_CASE("ids: user and group ids are 1-32 characters of [a-z0-9_.-]", "[ids]") {
  CHECK(is_valid_id("alice"));
  CHECK(is_valid_id("a.b-c_9"));
  CHECK(is_valid_id(std::string(32, 'x')));
  CHECK_FALSE(is_valid_id(""));
  CHECK_FALSE(is_valid_id(std::string(33, 'x')));
  CHECK_FALSE(is_valid_id("Alice"));
  CHECK_FALSE(is_valid_id("a:b"));
  CHECK_FALSE(is_valid_id(std::string("a\0b", 3)));
}

TEST_CASE("ids: direct conversations name both users in order", "[ids]") {
  CHECK(direct_conversation("bob", "alice") == "d:alice:bob");
  CHECK(direct_conversation("alice", "bob") == "d:alice:bob");
  auto parsed = parse_conversation("d:alice:bob");
  REQUIRE(parsed);
  CHECK(parsed->kind == ConversationRef::Kind::direct);
  CHECK(parsed->first == "alice");
  CHECK(parsed->second == "bob");
}

TEST_CASE("ids: malformed conversation ids are rejected", "[ids]") {
  CHECK_FALSE(parse_conversation(""));
  CHECK_FALSE(parse_conversation("d:bob:alice"));  // not sorted
  CHECK_FALSE(parse_conversation("d:alice:alice"));
  CHECK_FALSE(parse_conversation("d:alice"));
  CHECK_FALSE(parse_conversation("x:alice"));
  CHECK_FALSE(parse_conversation("g:"));
  CHECK_FALSE(parse_conversation("g:Team"));
  auto group = parse_conversation("g:team");
  REQUIRE(group);
  CHECK(group->kind == ConversationRef::Kind::group);
  CHECK(group->first == "team");
}
