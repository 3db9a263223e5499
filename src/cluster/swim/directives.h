#pragma once
// What the core asks its shell to do. Every handler appends to a Directives the shell then
// carries out in order; the core itself never performs I/O.
#include <cstdint>
#include <string>
#include <vector>

#include "cluster/swim/member.h"

namespace qim::cluster::swim {

// Send one UDP datagram (already encoded, at most Config::max_datagram_bytes).
struct SendDatagram {
  std::string address;
  std::vector<std::uint8_t> bytes;
};

// Open a TCP exchange with `address`: send local_state(join), pass the reply to
// merge_remote_state(). The peer's shell answers with on_push_pull_request().
struct StartPushPull {
  std::string name;  // Empty when joining through a seed address.
  std::string address;
  bool join = false;
};

enum class EventType : std::uint8_t {
  joined,            // A new member, or a new restart epoch of a dead/left/unknown one.
  suspect,           // An alive member became suspect.
  alive,             // A suspect member refuted and is alive again.
  dead,              // Failure confirmed.
  left,              // Graceful leave.
  metadata_changed,  // A live member's address or metadata changed (including a quick restart).
};

const char* to_string(EventType type);

struct MembershipEvent {
  EventType type = EventType::joined;
  Member member;           // The member's record after the change.
  std::string cause_name;  // Who reported it (suspect/dead: the accuser), if known.
};

struct Directives {
  std::vector<SendDatagram> datagrams;
  std::vector<StartPushPull> push_pulls;
  std::vector<MembershipEvent> events;

  void clear() {
    datagrams.clear();
    push_pulls.clear();
    events.clear();
  }
};

}  // namespace qim::cluster::swim
