#pragma once
// Every tunable of the membership protocol. Defaults follow hashicorp/memberlist's LAN profile.
#include <cstddef>
#include <cstdint>

namespace qim::cluster::swim {

struct Config {
  // Failure detection (SWIM).
  std::int64_t probe_interval_ms = 1000;
  std::int64_t probe_timeout_ms = 500;
  int indirect_checks = 3;

  // Suspicion: min = suspicion_multiplier * log10(max(1, N)) * probe_interval_ms,
  // max = suspicion_max_timeout_multiplier * min (Lifeguard only).
  int suspicion_multiplier = 4;
  int suspicion_max_timeout_multiplier = 6;

  // Dissemination: each update is sent retransmit_multiplier * ceil(log10(N + 1)) times.
  int retransmit_multiplier = 4;
  std::int64_t gossip_interval_ms = 200;
  int gossip_nodes = 3;
  // Dead members still receive gossip for this long, so a falsely declared node hears about it.
  std::int64_t gossip_to_the_dead_ms = 30'000;

  // Full-state exchange over TCP; scaled up above 32 members like memberlist's pushPullScale.
  std::int64_t push_pull_interval_ms = 30'000;
  // Also push-pull with one random dead (not left) member each push-pull round, so halves of a
  // healed partition find each other again (serf's "reconnect" done by the core).
  bool reconnect_dead_members = true;

  // Lifeguard.
  bool lifeguard = true;
  int awareness_max = 8;
  // Lifeguard only: a tick this much later than requested means our own process was starved
  // (CPU, pauses). For probe_timeout_ms after it we blame no probe target and let no suspicion
  // expire, since acks and refutations may be unread in our socket; awareness rises by one.
  std::int64_t late_tick_threshold_ms = 100;

  // Limits.
  std::size_t max_datagram_bytes = 1400;
  std::size_t max_members = 10'000;
  std::size_t max_broadcasts = 4096;
  std::size_t max_relayed_probes = 256;
  // Dead and left members are kept as tombstones this long so stale gossip cannot re-add them.
  std::int64_t tombstone_retention_ms = 3'600'000;
};

}  // namespace qim::cluster::swim
