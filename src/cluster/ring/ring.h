#pragma once
// The consistent-hash ring: maps every key (a user id, a conversation id) to its home member
// and its replicas. Pure: built from a list of member names, no I/O, no clock.
//
// Each member owns `vnodes_per_member` tokens at siphash(name, i). A key belongs to the first
// token clockwise from siphash(key). Tokens depend only on their member's name, so adding or
// removing a member moves only the keys between that member's tokens and their neighbours:
// about 1/N of them, and all to (or from) that member.
//
// Immutable once built; safe to share between threads. Rebuild on every membership change.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/ring/hash.h"

namespace qim::cluster {

struct RingOptions {
  std::uint32_t vnodes_per_member = 128;
  HashKey hash_key;  // the cluster's ring seed; every member must use the same one
};

class Ring {
 public:
  // A range of key positions (begin, end] that moves from one member to another.
  struct Move {
    std::uint64_t begin;  // exclusive; begin == end means the whole ring
    std::uint64_t end;    // inclusive
    std::string from;
    std::string to;
  };

  Ring() = default;
  // REQUIRES: names are distinct and non-empty; options.vnodes_per_member >= 1.
  Ring(std::span<const std::string> names, RingOptions options = {});

  bool empty() const { return members_.empty(); }
  std::size_t member_count() const { return members_.size(); }
  // Members sorted by name; indexes below refer to this order.
  const std::vector<std::string>& members() const { return members_; }
  const RingOptions& options() const { return options_; }

  std::uint64_t position(std::string_view key) const { return siphash24(options_.hash_key, key); }

  // REQUIRES: !empty().
  std::size_t owner_index(std::string_view key) const { return owner_at(position(key)); }
  const std::string& owner(std::string_view key) const { return members_[owner_index(key)]; }
  std::size_t owner_at(std::uint64_t position) const;

  // The first min(count, member_count()) distinct members clockwise from the key: the owner
  // first, then the replicas. Appends member indexes to `out` after clearing it.
  void replicas(std::string_view key, std::size_t count, std::vector<std::size_t>& out) const;

  // The fraction of the hash space each member owns, indexed like members().
  std::vector<double> shares() const;

  // The key ranges whose owner differs between `before` and `after`, coalesced.
  // REQUIRES: both rings use the same hash key.
  static std::vector<Move> diff(const Ring& before, const Ring& after);

 private:
  struct Token {
    std::uint64_t position;
    std::uint32_t member;  // index into members_
    bool operator<(const Token& other) const {
      return position != other.position ? position < other.position : member < other.member;
    }
  };
  std::size_t token_at(std::uint64_t position) const;

  RingOptions options_;
  std::vector<std::string> members_;
  std::vector<Token> tokens_;  // sorted by position
};

}  // namespace qim::cluster
