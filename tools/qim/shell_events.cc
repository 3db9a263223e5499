// Events: what the event thread prints and keeps, and `wait` for them.
#include <algorithm>

#include <fmt/core.h>

#include "shell.h"

namespace qim::cli {
namespace {

// Events kept for `wait` beyond which the oldest are forgotten.
constexpr std::size_t max_seen_events = 10'000;
// A `wait` may not ask for more than this many events.
constexpr std::uint64_t max_wait_count = 100'000;

const char* friend_event_type(FriendEventKind kind) {
  switch (kind) {
    case FriendEventKind::requested:
      return "friend-request";
    case FriendEventKind::accepted:
      return "friend-accept";
    case FriendEventKind::declined:
      return "friend-decline";
    case FriendEventKind::removed:
      return "friend-remove";
  }
  return "friend-event";
}

// `wait friend` matches every friend-* event; `wait group` every group-event.
bool type_matches(std::string_view wanted, const std::string& type) {
  if (wanted == type) return true;
  if (wanted == "friend") return type.starts_with("friend-");
  if (wanted == "group") return type == "group-event";
  return false;
}

}  // namespace

bool Shell::cmd_wait(const Args& args) {
  if (args.empty()) return usage("wait");
  std::string type = args.front().text;
  static constexpr std::string_view types[] = {"msg",           "friend",         "presence",
                                               "group",         "reconnected",    "caught-up",
                                               "disconnected",  "redirected",     "friend-request",
                                               "friend-accept", "friend-decline", "friend-remove"};
  if (std::find(std::begin(types), std::end(types), type) == std::end(types)) {
    return fail("wait", "usage", fmt::format("cannot wait for '{}'", type));
  }
  std::uint64_t count = 1;
  auto timeout = options_.timeout;
  std::vector<std::pair<std::string, std::string>> wanted;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& word = args[i].text;
    std::size_t equals = word.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail("wait", "usage", fmt::format("expected key=value, got '{}'", word));
    }
    std::string key = word.substr(0, equals), value = word.substr(equals + 1);
    std::uint64_t number = 0;
    if (key == "count") {
      if (!parse_number(value, number) || number == 0 || number > max_wait_count) {
        return fail("wait", "usage", "count must be 1..100000");
      }
      count = number;
    } else if (key == "timeout_ms") {
      if (!parse_number(value, number) || number > 3'600'000) {
        return fail("wait", "usage", "timeout_ms must be 0..3600000");
      }
      timeout = std::chrono::milliseconds(number);
    } else {
      wanted.emplace_back(std::move(key), std::move(value));
    }
  }
  auto matches = [&](const Record& record) {
    if (!type_matches(type, record.type())) return false;
    for (const auto& [key, value] : wanted) {
      if (record.get(key) != value) return false;
    }
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::uint64_t got = 0;
  std::unique_lock lock(seen_mutex_);
  while (got < count) {
    auto it = std::find_if(seen_events_.begin(), seen_events_.end(), matches);
    if (it != seen_events_.end()) {
      seen_events_.erase(it);
      ++got;
      continue;
    }
    if (seen_changed_.wait_until(lock, deadline) == std::cv_status::timeout &&
        std::none_of(seen_events_.begin(), seen_events_.end(), matches)) {
      lock.unlock();
      return fail(
          "wait", "timeout",
          fmt::format("got {} of {} '{}' events within {} ms", got, count, type, timeout.count()));
    }
  }
  lock.unlock();
  printer_.result(Record("ok").add("command", "wait").add("type", type).add("count", got));
  return true;
}

Record Shell::describe(const Event& event) const {
  struct Visitor {
    Record operator()(const MessageEvent& event) const {
      return Record("msg")
          .add("conv", event.message.conversation)
          .add("seq", event.message.seq)
          .add("from", event.message.sender)
          .add("text", event.message.body)
          .hide("time_ms", std::to_string(event.message.server_time_ms));
    }
    Record operator()(const FriendEvent& event) const {
      return Record(friend_event_type(event.kind)).add("from", event.user);
    }
    Record operator()(const PresenceEvent& event) const {
      return Record("presence").add("user", event.user).add("online", event.online);
    }
    Record operator()(const GroupEvent& event) const {
      return Record("group-event")
          .add("group", event.group)
          .add("kind", group_event_kind_name(event.kind))
          .add("user", event.user)
          .add("by", event.by);
    }
    Record operator()(const DisconnectedEvent& event) const {
      return Record("disconnected")
          .add("code", errc_name(event.code))
          .add("reconnect", event.will_reconnect)
          .add("node", event.node)
          .add("message", event.message);
    }
    Record operator()(const ReconnectedEvent& event) const {
      return Record("reconnected")
          .add("node", event.node)
          .add("attempts", std::uint64_t{event.attempts});
    }
    Record operator()(const CaughtUpEvent& event) const {
      return Record("caught-up")
          .add("ok", event.ok)
          .add("missed", event.missed_messages)
          .add("message", event.message);
    }
    Record operator()(const RedirectedEvent& event) const {
      return Record("redirected")
          .add("host", event.host)
          .add("port", std::uint64_t{event.port})
          .add("node", event.node);
    }
  };
  return std::visit(Visitor{}, event);
}

void Shell::event_loop(const std::stop_token& stop) {
  while (!stop.stop_requested()) {
    auto event = client_.next_event(std::chrono::milliseconds(100));
    if (!event) continue;
    Record record = describe(*event);
    const auto* message = std::get_if<MessageEvent>(&*event);
    // On the interactive screen a message of the current conversation is shown in full (and
    // so read); one of another conversation is a notice and stays unread.
    bool shown_here =
        message != nullptr && human() && message->message.conversation == current_conversation();
    if (message != nullptr && human()) record.hide("view", shown_here ? "here" : "notice");
    // Printed first, so a script sees the event line before the `ok wait` it unblocks.
    printer_.event(record);
    // Mine from another device is read too: I wrote it.
    if (shown_here ||
        (message != nullptr && human() && message->message.sender == client_.user())) {
      mark_read(message->message.conversation, message->message.seq);
    }
    {
      std::lock_guard lock(seen_mutex_);
      if (seen_events_.size() >= max_seen_events) seen_events_.pop_front();
      seen_events_.push_back(std::move(record));
    }
    seen_changed_.notify_all();
  }
}

}  // namespace qim::cli
