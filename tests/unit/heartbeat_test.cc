// HeartbeatMonitor: when a client pings and when it gives a silent server up
// (client/heartbeat.h).
#include <chrono>

#include <catch2/catch.hpp>

#include "client/heartbeat.h"

namespace {

using namespace std::chrono_literals;
using qim::client::HeartbeatMonitor;
using qim::client::HeartbeatSettings;
using Action = HeartbeatMonitor::Action;
using TimePoint = HeartbeatMonitor::TimePoint;

const TimePoint start{std::chrono::seconds(100)};

HeartbeatSettings settings(std::chrono::milliseconds interval,
                           std::chrono::milliseconds pong_timeout) {
  HeartbeatSettings s;
  s.interval = interval;
  s.pong_timeout = pong_timeout;
  return s;
}

TEST_CASE("heartbeat: an idle connection pings every interval while the server answers",
          "[heartbeat]") {
  HeartbeatMonitor monitor(settings(4s, 3s), start);
  CHECK(monitor.next_check() == start + 4s);
  CHECK(monitor.tick(start + 3999ms) == Action::none);
  CHECK(monitor.tick(start + 4s) == Action::ping);
  CHECK(monitor.ping_outstanding());
  CHECK(monitor.next_check() == start + 7s);
  CHECK(monitor.tick(start + 5s) == Action::none);  // no second ping while one is out
  monitor.on_receive(start + 5s);                   // the Pong
  CHECK(monitor.tick(start + 5s) == Action::none);
  CHECK_FALSE(monitor.ping_outstanding());
  // The next ping: an interval after the ping went out (nothing sent since).
  CHECK(monitor.next_check() == start + 8s);
  CHECK(monitor.tick(start + 8s) == Action::ping);
}

TEST_CASE("heartbeat: a silent server is dead an interval and a Pong timeout after it spoke",
          "[heartbeat]") {
  HeartbeatMonitor monitor(settings(4s, 3s), start);
  monitor.on_receive(start + 1s);
  monitor.on_send(start + 1s);
  CHECK(monitor.tick(start + 5s) == Action::ping);
  CHECK(monitor.tick(start + 7999ms) == Action::none);
  CHECK(monitor.tick(start + 8s) == Action::dead);
  CHECK(monitor.tick(start + 9s) == Action::dead);  // stays dead
  CHECK(monitor.next_check() == TimePoint::max());
}

TEST_CASE("heartbeat: any frame from the server counts as life, not only the Pong", "[heartbeat]") {
  HeartbeatMonitor monitor(settings(4s, 3s), start);
  CHECK(monitor.tick(start + 4s) == Action::ping);
  monitor.on_receive(start + 6s);  // a push, the Pong still queued behind it
  CHECK(monitor.tick(start + 7s) == Action::none);
  CHECK_FALSE(monitor.ping_outstanding());
}

TEST_CASE("heartbeat: a client that only receives still pings, one that only sends too",
          "[heartbeat]") {
  SECTION("busy receiving") {
    HeartbeatMonitor monitor(settings(4s, 3s), start);
    for (auto at = start + 1s; at < start + 4s; at += 1s)
      monitor.on_receive(at);
    CHECK(monitor.tick(start + 4s) == Action::ping);  // the server must hear from it
  }
  SECTION("busy sending") {
    HeartbeatMonitor monitor(settings(4s, 3s), start);
    for (auto at = start + 1s; at < start + 4s; at += 1s)
      monitor.on_send(at);
    CHECK(monitor.tick(start + 4s) == Action::ping);  // nothing came back for an interval
  }
  SECTION("traffic both ways needs no ping") {
    HeartbeatMonitor monitor(settings(4s, 3s), start);
    for (auto at = start + 1s; at <= start + 10s; at += 1s) {
      monitor.on_send(at);
      monitor.on_receive(at);
      CHECK(monitor.tick(at) == Action::none);
    }
  }
}

TEST_CASE("heartbeat: the interval used follows what the server advertises", "[heartbeat]") {
  using qim::client::heartbeat_interval;
  CHECK(heartbeat_interval(0ms, 4000ms, 30000ms) == 4000ms);     // the server's
  CHECK(heartbeat_interval(2000ms, 4000ms, 30000ms) == 2000ms);  // shorter is allowed
  CHECK(heartbeat_interval(9000ms, 4000ms, 30000ms) == 4000ms);  // longer would be closed
  CHECK(heartbeat_interval(0ms, 0ms, 30000ms) == 30000ms);       // an older server
  CHECK(heartbeat_interval(5000ms, 0ms, 30000ms) == 5000ms);
}

}  // namespace
