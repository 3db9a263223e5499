#pragma once
// The nodes a client knows and where a reconnection goes next: a sans-IO core fed with what
// the connections saw (answers, silences, redirects, the servers' lists of live nodes), asked
// for the next target with the time passed in.
//
// A node that did not answer (the connect failed, no HelloOk, a login timed out) is passed
// over for a while: a paused or dead node still accepts TCP connections from the kernel's
// backlog, and going back to it costs a whole timeout each time. That matters most right after
// a Redirect to the user's new home, when the home itself dies or pauses: the other nodes
// still name it until the partition elects another leader (a second or two), so the client
// keeps asking the live ones instead of waiting on the silent one.
//
// Not thread-safe: the client's I/O thread owns it.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace qim::client {

struct NodeAddress {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const NodeAddress&) const = default;
};

// "host:port" or "[v6]:port" as servers list them; nullopt when malformed.
std::optional<NodeAddress> parse_node_address(std::string_view text);

class NodeAddresses {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::size_t max_known = 16;

  // The address the user gave: always known, always first.
  void set_entry(const NodeAddress& entry);
  // A node named by a Redirect or connected to.
  void remember(const NodeAddress& address);
  // A server's list of the live nodes replaces the ones learned before (nodes that left the
  // cluster are forgotten); the entry and `from` stay.
  void replace_learned(const NodeAddress& from, const std::vector<NodeAddress>& live);

  // `address` did not answer: passed over until `until` while another node may answer.
  void mark_silent(const NodeAddress& address, TimePoint until);
  // `address` answered: no longer passed over.
  void mark_answered(const NodeAddress& address);
  bool silent(const NodeAddress& address, TimePoint now) const;

  // Where reconnection attempt `attempt` (0, 1, ...) goes: the home on even attempts and the
  // other nodes in turn on odd ones, passing over nodes silent at `now` while any known node
  // is not. With every node silent, the plain rotation.
  NodeAddress target(const NodeAddress& home, std::uint32_t attempt, TimePoint now) const;

  const std::vector<NodeAddress>& known() const { return known_; }

 private:
  struct Silence {
    NodeAddress address;
    TimePoint until;
  };

  std::vector<NodeAddress> known_;  // the entry first, when set
  bool has_entry_ = false;
  std::vector<Silence> silences_;  // at most one per address
};

}  // namespace qim::client
