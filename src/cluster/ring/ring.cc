#include "cluster/ring/ring.h"

#include <algorithm>
#include <cassert>

namespace qim::cluster {
namespace {

std::string token_name(std::string_view member, std::uint32_t index) {
  std::string name(member);
  name.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    name.push_back(static_cast<char>((index >> shift) & 0xff));
  }
  return name;
}

}  // namespace

Ring::Ring(std::span<const std::string> names, RingOptions options)
    : options_(options), members_(names.begin(), names.end()) {
  assert(options_.vnodes_per_member >= 1);
  std::sort(members_.begin(), members_.end());
  assert(std::adjacent_find(members_.begin(), members_.end()) == members_.end());
  tokens_.reserve(members_.size() * options_.vnodes_per_member);
  for (std::uint32_t member = 0; member < members_.size(); ++member) {
    for (std::uint32_t vnode = 0; vnode < options_.vnodes_per_member; ++vnode) {
      tokens_.push_back(
          {siphash24(options_.hash_key, token_name(members_[member], vnode)), member});
    }
  }
  // Ties between two members' tokens (astronomically rare) break by member name, so every
  // node that builds the ring from the same names agrees.
  std::sort(tokens_.begin(), tokens_.end());
}

std::size_t Ring::token_at(std::uint64_t position) const {
  auto it =
      std::lower_bound(tokens_.begin(), tokens_.end(), position,
                       [](const Token& token, std::uint64_t p) { return token.position < p; });
  return it == tokens_.end() ? 0 : static_cast<std::size_t>(it - tokens_.begin());
}

std::size_t Ring::owner_at(std::uint64_t position) const {
  assert(!empty());
  return tokens_[token_at(position)].member;
}

void Ring::replicas(std::string_view key, std::size_t count, std::vector<std::size_t>& out) const {
  out.clear();
  if (empty()) return;
  count = std::min(count, members_.size());
  std::size_t index = token_at(position(key));
  for (std::size_t step = 0; step < tokens_.size() && out.size() < count; ++step) {
    std::size_t member = tokens_[(index + step) % tokens_.size()].member;
    if (std::find(out.begin(), out.end(), member) == out.end()) out.push_back(member);
  }
}

std::vector<double> Ring::shares() const {
  std::vector<double> result(members_.size(), 0.0);
  if (empty()) return result;
  constexpr double space = 18446744073709551616.0;  // 2^64
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    // Token i owns (previous token, token i]; the first wraps around the top of the space.
    std::uint64_t previous = tokens_[(i + tokens_.size() - 1) % tokens_.size()].position;
    std::uint64_t width = tokens_[i].position - previous;  // wraps correctly in unsigned math
    result[tokens_[i].member] += (tokens_.size() == 1 ? space : static_cast<double>(width)) / space;
  }
  return result;
}

std::vector<Ring::Move> Ring::diff(const Ring& before, const Ring& after) {
  std::vector<Move> moves;
  if (before.empty() || after.empty()) return moves;
  // Every elementary range lies between two consecutive boundaries of either ring, and both
  // rings give it a single owner: the one of the boundary that ends it.
  std::vector<std::uint64_t> boundaries;
  boundaries.reserve(before.tokens_.size() + after.tokens_.size());
  for (const Token& token : before.tokens_)
    boundaries.push_back(token.position);
  for (const Token& token : after.tokens_)
    boundaries.push_back(token.position);
  std::sort(boundaries.begin(), boundaries.end());
  boundaries.erase(std::unique(boundaries.begin(), boundaries.end()), boundaries.end());

  for (std::size_t i = 0; i < boundaries.size(); ++i) {
    std::uint64_t end = boundaries[i];
    std::uint64_t begin = boundaries[(i + boundaries.size() - 1) % boundaries.size()];
    const std::string& from = before.members_[before.owner_at(end)];
    const std::string& to = after.members_[after.owner_at(end)];
    if (from == to) continue;
    if (!moves.empty() && moves.back().end == begin && moves.back().from == from &&
        moves.back().to == to) {
      moves.back().end = end;
    } else {
      moves.push_back({begin, end, from, to});
    }
  }
  return moves;
}

}  // namespace qim::cluster
