#include "client/node_addresses.h"

#include <algorithm>
#include <charconv>

namespace qim::client {

std::optional<NodeAddress> parse_node_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  return NodeAddress{std::string(host), static_cast<std::uint16_t>(port)};
}

void NodeAddresses::set_entry(const NodeAddress& entry) {
  std::erase(known_, entry);
  known_.insert(known_.begin(), entry);
  has_entry_ = true;
  if (known_.size() > max_known) known_.pop_back();
}

void NodeAddresses::remember(const NodeAddress& address) {
  if (address.host.empty()) return;
  if (std::find(known_.begin(), known_.end(), address) != known_.end()) return;
  if (known_.size() >= max_known) {
    known_.erase(known_.begin() + (has_entry_ ? 1 : 0));  // the oldest learned
  }
  known_.push_back(address);
}

void NodeAddresses::replace_learned(const NodeAddress& from, const std::vector<NodeAddress>& live) {
  std::vector<NodeAddress> kept;
  if (has_entry_ && !known_.empty()) kept.push_back(known_.front());
  auto add = [&](const NodeAddress& address) {
    if (address.host.empty() || kept.size() >= max_known) return;
    if (std::find(kept.begin(), kept.end(), address) == kept.end()) kept.push_back(address);
  };
  add(from);
  for (const NodeAddress& address : live)
    add(address);
  known_ = std::move(kept);
}

void NodeAddresses::mark_silent(const NodeAddress& address, TimePoint until) {
  for (Silence& silence : silences_) {
    if (silence.address == address) {
      silence.until = std::max(silence.until, until);
      return;
    }
  }
  // Bounded by the addresses ever tried; old silences are dropped when they are answered.
  silences_.push_back({address, until});
  if (silences_.size() > 4 * max_known) silences_.erase(silences_.begin());
}

void NodeAddresses::mark_answered(const NodeAddress& address) {
  std::erase_if(silences_, [&](const Silence& silence) { return silence.address == address; });
}

bool NodeAddresses::silent(const NodeAddress& address, TimePoint now) const {
  for (const Silence& silence : silences_) {
    if (silence.address == address) return now < silence.until;
  }
  return false;
}

NodeAddress NodeAddresses::target(const NodeAddress& home, std::uint32_t attempt,
                                  TimePoint now) const {
  std::vector<const NodeAddress*> others;
  std::vector<const NodeAddress*> answering;
  for (const NodeAddress& address : known_) {
    if (address == home) continue;
    others.push_back(&address);
    if (!silent(address, now)) answering.push_back(&address);
  }
  bool has_home = !home.host.empty();
  bool home_answering = has_home && !silent(home, now);
  if (home_answering) {
    if (answering.empty() || attempt % 2 == 0) return home;
    return *answering[(attempt / 2) % answering.size()];
  }
  if (!answering.empty()) return *answering[attempt % answering.size()];
  // Everything is silent: the plain rotation, home first.
  if (others.empty()) return home;
  if (!has_home) return *others[attempt % others.size()];
  if (attempt % 2 == 0) return home;
  return *others[(attempt / 2) % others.size()];
}

}  // namespace qim::client
