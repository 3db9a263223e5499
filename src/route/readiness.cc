#include "route/readiness.h"

#include <algorithm>

#include "cluster/ring/hash.h"

namespace qim::route {

std::uint64_t layout_fingerprint(const Placement& placement) {
  // A fixed key: the fingerprint only has to agree between nodes, not resist anyone.
  static constexpr cluster::HashKey key{0x716d2d6c61796f75ull, 0x742d66696e676572ull};
  std::string text = std::to_string(placement.ring().options().vnodes_per_member);
  for (const std::string& name : placement.ring().members()) {  // sorted by name
    text.push_back('\0');
    text += name;
  }
  return cluster::siphash24(key, text);
}

namespace {

// A source is waited for while it is a member of `placement` that is up.
bool live(const Placement& placement, std::string_view name) {
  const NodeInfo* node = placement.find(name);
  return node != nullptr && node->up;
}

}  // namespace

bool ReadinessGate::blocks(std::string_view key) const {
  for (const Wait& wait : waits_) {
    const std::string& owner = wait.ring->owner(key);
    for (const std::string& source : wait.sources) {
      if (source == owner) return true;
    }
  }
  return false;
}

void Readiness::placement_changed(const Placement& previous, const Placement& next, TimePoint now) {
  layout_ = layout_fingerprint(next);
  const std::string& self = next.self_name();
  if (next.find(self) == nullptr) {
    // Draining: this node serves no key any more, so nothing here waits.
    waits_.clear();
    return;
  }
  // Sources that are gone are not waited for; sources whose Done for this layout came before
  // this node reached it are done.
  for (Wait& wait : waits_) {
    std::erase_if(wait.sources, [&](const std::string& source) {
      auto done = last_done_.find(source);
      return !live(next, source) || (done != last_done_.end() && done->second == layout_);
    });
  }
  drop_empty();
  bool was_alone = previous.members().size() == 1 && previous.members().front().name == self;
  bool joining = was_alone || std::any_of(waits_.begin(), waits_.end(),
                                          [](const Wait& wait) { return wait.joining; });
  if (joining) {
    std::vector<std::string> others;
    for (const NodeInfo& member : next.members()) {
      if (member.name != self) others.push_back(member.name);
    }
    if (!others.empty()) open_wait(cluster::Ring(others, next.ring().options()), next, true, now);
  }
  open_wait(previous.ring(), next, false, now);
}

void Readiness::open_wait(cluster::Ring before, const Placement& next, bool joining,
                          TimePoint now) {
  const std::string& self = next.self_name();
  std::vector<std::string> sources;
  for (const cluster::Ring::Move& move : cluster::Ring::diff(before, next.ring())) {
    if (move.to != self || move.from == self || !live(next, move.from)) continue;
    auto done = last_done_.find(move.from);
    if (done != last_done_.end() && done->second == layout_) continue;
    sources.push_back(move.from);
  }
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
  if (sources.empty()) return;
  waits_.push_back({std::make_shared<const cluster::Ring>(std::move(before)), std::move(sources),
                    now + timeout_, joining});
}

bool Readiness::handoff_done(std::string_view from, std::uint64_t fingerprint) {
  last_done_[std::string(from)] = fingerprint;
  if (fingerprint != layout_) return false;
  bool ended = false;
  for (Wait& wait : waits_) {
    ended |= std::erase(wait.sources, from) > 0;
  }
  drop_empty();
  return ended;
}

std::vector<std::string> Readiness::expire(TimePoint now) {
  std::vector<std::string> given_up;
  std::erase_if(waits_, [&](const Wait& wait) {
    if (wait.deadline > now) return false;
    given_up.insert(given_up.end(), wait.sources.begin(), wait.sources.end());
    return true;
  });
  std::sort(given_up.begin(), given_up.end());
  given_up.erase(std::unique(given_up.begin(), given_up.end()), given_up.end());
  return given_up;
}

std::optional<Readiness::TimePoint> Readiness::next_deadline() const {
  std::optional<TimePoint> earliest;
  for (const Wait& wait : waits_) {
    if (!earliest || wait.deadline < *earliest) earliest = wait.deadline;
  }
  return earliest;
}

std::vector<std::string> Readiness::awaited() const {
  std::vector<std::string> sources;
  for (const Wait& wait : waits_)
    sources.insert(sources.end(), wait.sources.begin(), wait.sources.end());
  std::sort(sources.begin(), sources.end());
  sources.erase(std::unique(sources.begin(), sources.end()), sources.end());
  return sources;
}

bool Readiness::blocks(std::string_view key) const {
  auto snapshot = gate();
  return snapshot != nullptr && snapshot->blocks(key);
}

std::shared_ptr<const ReadinessGate> Readiness::gate() const {
  if (waits_.empty()) return nullptr;
  auto gate = std::make_shared<ReadinessGate>();
  gate->waits_.reserve(waits_.size());
  for (const Wait& wait : waits_)
    gate->waits_.push_back({wait.ring, wait.sources});
  return gate;
}

void Readiness::drop_empty() {
  std::erase_if(waits_, [](const Wait& wait) { return wait.sources.empty(); });
}

}  // namespace qim::route
