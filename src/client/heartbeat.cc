#include "client/heartbeat.h"

#include <algorithm>

namespace qim::client {

HeartbeatMonitor::HeartbeatMonitor(HeartbeatSettings settings, TimePoint now)
    : settings_(settings), last_receive_(now), last_send_(now) {
  settings_.interval = std::max(settings_.interval, std::chrono::milliseconds(1));
  settings_.pong_timeout = std::max(settings_.pong_timeout, std::chrono::milliseconds(1));
}

HeartbeatMonitor::Action HeartbeatMonitor::tick(TimePoint now) {
  if (dead_) return Action::dead;
  if (ping_sent_) {
    if (last_receive_ >= *ping_sent_) {
      ping_sent_.reset();  // something came back: the server is alive
    } else if (now - *ping_sent_ >= settings_.pong_timeout) {
      dead_ = true;
      return Action::dead;
    } else {
      return Action::none;
    }
  }
  if (now - last_receive_ >= settings_.interval || now - last_send_ >= settings_.interval) {
    ping_sent_ = now;
    last_send_ = now;
    return Action::ping;
  }
  return Action::none;
}

HeartbeatMonitor::TimePoint HeartbeatMonitor::next_check() const {
  if (dead_) return TimePoint::max();
  if (ping_sent_ && last_receive_ < *ping_sent_) return *ping_sent_ + settings_.pong_timeout;
  return std::min(last_receive_, last_send_) + settings_.interval;
}

std::chrono::milliseconds heartbeat_interval(std::chrono::milliseconds wanted,
                                             std::chrono::milliseconds advertised,
                                             std::chrono::milliseconds fallback) {
  if (advertised.count() <= 0) return wanted.count() > 0 ? wanted : fallback;
  if (wanted.count() <= 0) return advertised;
  return std::min(wanted, advertised);
}

}  // namespace qim::client
