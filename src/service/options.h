#pragma once
// What the IM service may do and how much of it: policies and limits, filled from qimd's
// flags and config file (node/config.cc) and by tests directly.
#include <cstdint>
#include <string>

#include "auth/password.h"

namespace qim::service {

enum class DmPolicy { friends, anyone };

// How far a message must have gone before SendAck.
enum class Durability {
  local,  // in the local write-ahead log (survives kill -9 of the process)
  fsync,  // WAL fsynced, group-committed (survives power loss)
};

struct Options {
  std::string node_name = "qim-1";
  DmPolicy dm_policy = DmPolicy::friends;
  Durability durability = Durability::local;
  auth::PasswordCost password_cost = auth::PasswordCost::interactive();

  std::uint32_t max_body_bytes = 16 * 1024;
  std::uint32_t max_frame_bytes = 64 * 1024;  // reported in HelloOk; enforced by the shell
  // Reported in HelloOk: a client pings once it has sent or received nothing for this long.
  // The shell closes a connection silent for its idle timeout, derived from this (config.cc).
  std::uint32_t heartbeat_interval_ms = 3'000;
  std::uint32_t max_group_members = 2000;
  std::uint32_t max_friends = 2000;  // accepted and pending, per user
  std::uint32_t max_groups_per_user = 500;
  std::uint32_t max_tokens_per_user = 16;  // the least recently used is evicted
  std::uint32_t default_page_messages = 200;
  std::uint32_t max_page_messages = 1000;
  std::uint32_t max_online_page = 1000;

  // Per-session rate of requests that write (sends, friend and group operations).
  double messages_per_second = 200;
  double message_burst = 400;
  // Failed-login budget, per user and per remote address; a success does not consume it.
  double login_failures_per_minute_per_user = 10;
  double login_failures_per_minute_per_address = 60;

  // Registration by clients: open, or closed (only qimctl user create makes accounts). Open
  // registration is limited per remote address (token bucket).
  bool registration_open = true;
  double registrations_per_minute_per_address = 10;
  double registration_burst_per_address = 5;

  std::uint64_t dedup_retention_ms = 7ull * 24 * 3600 * 1000;
  // Messages older than this (by server time) leave their logs in the maintenance sweep
  // (service/history_trim.h); 0 keeps them forever.
  std::uint64_t history_retention_ms = 0;
};

}  // namespace qim::service
