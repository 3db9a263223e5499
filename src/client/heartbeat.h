#pragma once
// When a client connection pings, and when it gives the server up for dead: a sans-IO core fed
// with the times frames went out and came in, asked at its own deadlines what to do.
//
// CIM-style: a Ping goes out once the connection has sent or received nothing for `interval`
// (either way: the server closes a client it has not heard from, even one busy receiving), and
// the server is dead when nothing at all has come back `pong_timeout` after that Ping. Any
// frame from the server counts as life, not only the Pong: a node busy pushing may answer late.
// So a silent server is given up at most `interval + pong_timeout` after it last spoke.
//
// Invariant: at most one Ping is outstanding; it is answered by any frame received after it.
// Not thread-safe: the connection's executor owns it; time is passed in.
#include <chrono>
#include <optional>

namespace qim::client {

struct HeartbeatSettings {
  std::chrono::milliseconds interval{3'000};
  std::chrono::milliseconds pong_timeout{3'000};
};

class HeartbeatMonitor {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Action {
    none,  // nothing to do until next_check()
    ping,  // send a Ping now (the monitor has counted it as sent)
    dead,  // nothing came back in time: close the connection
  };

  // `now`: when the connection opened (both directions count as active then).
  HeartbeatMonitor(HeartbeatSettings settings, TimePoint now);

  void on_receive(TimePoint now) { last_receive_ = now; }
  void on_send(TimePoint now) { last_send_ = now; }

  // What to do at `now`. Once dead, stays dead.
  Action tick(TimePoint now);
  // When tick() may next have something to do.
  TimePoint next_check() const;

  bool ping_outstanding() const { return ping_sent_.has_value(); }
  const HeartbeatSettings& settings() const { return settings_; }

 private:
  HeartbeatSettings settings_;
  TimePoint last_receive_;
  TimePoint last_send_;
  std::optional<TimePoint> ping_sent_;
  bool dead_ = false;
};

// The interval a client uses against a server that advertised `advertised` (0: nothing):
// `wanted` when set and not longer than the server allows, else the server's, else `fallback`.
std::chrono::milliseconds heartbeat_interval(std::chrono::milliseconds wanted,
                                             std::chrono::milliseconds advertised,
                                             std::chrono::milliseconds fallback);

}  // namespace qim::client
