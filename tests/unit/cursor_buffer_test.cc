// The leader's buffer of read cursors (service/cursor_buffer.h): only raises, hands each key out
// once per take, settles failures back to pending, and stays within its bound.
#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "service/cursor_buffer.h"

namespace qim::testing {
namespace {

using service::CursorBuffer;
using service::CursorView;

CursorView move_of(std::string_view user, std::uint64_t seq) {
  return CursorView{user, "phone", "d:a:b", seq};
}

}  // namespace

TEST_CASE("cursor buffer: raises only, takes each key once, settles", "[service][cursors]") {
  CursorBuffer buffer(2, 3);
  CHECK(buffer.raise(0, "k1", move_of("a", 5)));
  CHECK(buffer.raise(0, "k1", move_of("a", 3)));  // lower: kept at 5
  CHECK(buffer.read(0, "k1") == 5u);
  CHECK_FALSE(buffer.read(0, "k2").has_value());
  CHECK_FALSE(buffer.read(1, "k1").has_value());
  CHECK(buffer.raise(0, "k2", move_of("b", 1)));
  CHECK(buffer.pending(0) == 2);

  std::vector<std::string> keys;
  auto moves = buffer.take(0, 1, keys);  // bounded per command
  REQUIRE(moves.size() == 1);
  CHECK(keys == std::vector<std::string>{"k1"});
  CHECK(moves[0].seq == 5);
  CHECK(buffer.pending(0) == 1);
  CHECK(buffer.in_flight() == 1);
  CHECK(buffer.read(0, "k1") == 5u);  // in flight, still read

  // Raised while in flight: pending again, taken by the next command.
  CHECK(buffer.raise(0, "k1", move_of("a", 7)));
  std::vector<std::string> keys2;
  auto moves2 = buffer.take(0, 10, keys2);
  CHECK(moves2.size() == 2);
  CHECK(buffer.in_flight() == 2);

  // The first command fails after the second was taken: the newer value is in flight, so
  // nothing returns to pending.
  buffer.settle(0, keys, moves, false);
  CHECK(buffer.pending(0) == 0);
  CHECK(buffer.read(0, "k1") == 7u);
  // The second fails too: back to pending with its values.
  buffer.settle(0, keys2, moves2, false);
  CHECK(buffer.in_flight() == 0);
  CHECK(buffer.pending(0) == 2);
  CHECK(buffer.read(0, "k1") == 7u);
  // Taken and applied: kept as the stored value, so the next Ack reads no store.
  auto moves3 = buffer.take(0, 10, keys);
  CHECK(moves3.size() == 2);
  buffer.settle(0, keys, moves3, true);
  CHECK(buffer.in_flight() == 0);
  CHECK(buffer.pending(0) == 0);
  CHECK(buffer.read(0, "k1") == 7u);
  CHECK(buffer.raise(0, "k1", move_of("a", 6)));  // below the stored value: nothing to do
  CHECK(buffer.pending(0) == 0);
  // A full buffer drops such cached entries first.
  CHECK(buffer.raise(0, "k3", move_of("c", 1)));
  CHECK(buffer.entries() == 3);
  CHECK(buffer.raise(0, "k4", move_of("d", 1)));
  CHECK(buffer.entries() == 2);  // k1 and k2 dropped, k3 and k4 pending
  CHECK_FALSE(buffer.read(0, "k1").has_value());
  CHECK(buffer.read(0, "k4") == 1u);
}

TEST_CASE("cursor buffer: bounded, and a forgotten partition holds nothing", "[service][cursors]") {
  CursorBuffer buffer(2, 2);
  CHECK(buffer.raise(0, "k1", move_of("a", 1)));
  CHECK(buffer.raise(1, "k2", move_of("b", 1)));
  CHECK_FALSE(buffer.raise(1, "k3", move_of("c", 1)));  // full
  CHECK(buffer.raise(1, "k2", move_of("b", 2)));        // an existing key still rises
  buffer.forget(1);
  CHECK(buffer.entries() == 1);
  CHECK(buffer.pending(1) == 0);
  CHECK(buffer.raise(1, "k3", move_of("c", 1)));
  // A command settled after its partition was forgotten changes nothing.
  std::vector<std::string> keys;
  auto moves = buffer.take(0, 10, keys);
  buffer.forget(0);
  buffer.settle(0, keys, moves, false);
  CHECK(buffer.pending(0) == 0);
  CHECK(buffer.entries() == 1);
  CHECK(buffer.in_flight() == 0);
}

TEST_CASE("cursor buffer: a sealed partition takes no cursor, not even a higher one",
          "[service][cursors]") {
  CursorBuffer buffer(2);
  CHECK(buffer.raise(0, "k1", move_of("a", 1)));
  buffer.seal(0, true);
  CHECK(buffer.sealed(0));
  CHECK_FALSE(buffer.raise(0, "k1", move_of("a", 2)));
  CHECK_FALSE(buffer.raise(0, "k2", move_of("b", 1)));
  CHECK(buffer.read(0, "k1") == 1u);
  CHECK(buffer.raise(1, "k3", move_of("c", 1)));  // other partitions stay open
  buffer.seal(0, false);
  CHECK(buffer.raise(0, "k1", move_of("a", 2)));
  CHECK(buffer.read(0, "k1") == 2u);
}

}  // namespace qim::testing
