#pragma once
// The messages a gossip datagram carries. Encoded by codec.h; one datagram holds several.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "cluster/swim/member.h"

namespace qim::cluster::swim {

// Limits enforced by the encoder and the decoder.
inline constexpr std::size_t kMaxNameBytes = 64;
inline constexpr std::size_t kMaxAddressBytes = 128;

struct Ping {
  std::uint32_t sequence = 0;
  std::string target_name;  // Lets a restarted node on a reused address ignore stale pings.
  std::string source_name;
  friend bool operator==(const Ping&, const Ping&) = default;
};

// "Please ping target for me": the SWIM ping-req.
struct IndirectPing {
  std::uint32_t sequence = 0;  // The requester's sequence; the relayed ack carries it back.
  std::string target_name;
  std::string target_address;
  std::uint32_t nack_after_ms = 0;  // Lifeguard: send a nack if no ack within this time.
  bool want_nack = false;
  friend bool operator==(const IndirectPing&, const IndirectPing&) = default;
};

struct Ack {
  std::uint32_t sequence = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};

// Lifeguard: the relay reached out but heard nothing back; proves the relay is alive and us too.
struct Nack {
  std::uint32_t sequence = 0;
  friend bool operator==(const Nack&, const Nack&) = default;
};

struct Alive {
  std::string name;
  std::string address;
  NodeMeta meta;
  std::uint64_t restart_epoch = 0;
  std::uint32_t incarnation = 0;
  friend bool operator==(const Alive&, const Alive&) = default;
};

struct Suspect {
  std::string name;
  std::uint64_t restart_epoch = 0;
  std::uint32_t incarnation = 0;
  std::string from_name;  // Who suspects: distinct senders are independent confirmations.
  friend bool operator==(const Suspect&, const Suspect&) = default;
};

// Dead (failure confirmed) or left (graceful leave, from_name == name).
struct Dead {
  std::string name;
  std::uint64_t restart_epoch = 0;
  std::uint32_t incarnation = 0;
  std::string from_name;
  bool left = false;
  friend bool operator==(const Dead&, const Dead&) = default;
};

using Message = std::variant<Ping, IndirectPing, Ack, Nack, Alive, Suspect, Dead>;

// A full member table, exchanged over TCP by push-pull.
struct PushPullState {
  bool join = false;
  std::vector<Member> members;
  friend bool operator==(const PushPullState&, const PushPullState&) = default;
};

}  // namespace qim::cluster::swim
