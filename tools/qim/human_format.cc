#include "human_format.h"

#include <fmt/core.h>

#include "text_width.h"

namespace qim::cli {
namespace {

std::uint64_t number(const Record& record, std::string_view key) {
  return std::stoull("0" + record.get(key));
}

bool flag(const Record& record, std::string_view key) {
  return record.get(key) == "1";
}

std::string plural(const std::string& count, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", count, count == "1" ? one : many);
}

std::string group_name(const Record& record) {
  return "#" + record.get("group");
}

// "you" for the logged-in user.
std::string who(std::string_view user, std::string_view self) {
  return user == self ? std::string("you") : std::string(user);
}

std::string render_ok(const Record& record, const HumanContext& context) {
  const std::string command = record.get("command");
  const std::string user = record.get("user");
  if (command == "register") return fmt::format("account {} created — now: login {}", user, user);
  if (command == "login") {
    std::string line = fmt::format("logged in as {} on {}", user, record.get("node"));
    if (context.show_token) line += fmt::format(" (token {})", record.get("token"));
    return line;
  }
  if (command == "backlog") {
    std::string count = record.get("count");
    return count == "0"
               ? std::string("no unread messages")
               : fmt::format("{} above", plural(count, "unread message", "unread messages"));
  }
  if (command == "conv") {
    std::string name = record.get("name");
    std::string line = fmt::format(
        "talking with {}{} — plain lines go there; commands start with / "
        "(/part leaves)",
        name, record.get("count") == "0" ? " (no messages yet)" : "");
    // More unread than were shown: where the rest is.
    if (number(record, "unread") > number(record, "count") && !record.get("first").empty()) {
      line += fmt::format("\nolder unread messages: /history {} --before {}", name,
                          record.get("first"));
    }
    return line;
  }
  if (command == "part") return fmt::format("left the conversation with {}", record.get("name"));
  if (command == "convs") {
    if (record.get("count") == "0") return "no conversations yet — start one: :c USER";
    std::string unread = record.get("unread");
    return unread == "0" ? std::string("all read")
                         : fmt::format("{} unread — :c NAME opens a conversation", unread);
  }
  if (command == "whoami") {
    std::string how = flag(record, "tls") ? "TLS" : "plain TCP (no TLS)";
    if (user.empty()) {
      return fmt::format("not logged in · node {} · device {} · {}", record.get("node"),
                         record.get("device"), how);
    }
    return fmt::format("{} on {} · device {} · {}", user, record.get("node"), record.get("device"),
                       how);
  }
  if (command == "clear") return {};
  if (command == "logout") return "logged out — type login USER to come back";
  if (command == "passwd") return "password changed; your other devices were signed out";
  if (command == "fadd") return fmt::format("friend request sent to {}", user);
  if (command == "faccept") return fmt::format("you and {} are friends now", user);
  if (command == "fdecline") return fmt::format("declined {}'s friend request", user);
  if (command == "fdel") return fmt::format("{} is no longer your friend", user);
  if (command == "fls") {
    return record.get("count") == "0" ? "no friends yet — add one: fadd USER" : std::string();
  }
  if (command == "groups") {
    return record.get("count") == "0" ? "no groups yet — make one: gcreate NAME" : std::string();
  }
  if (command == "gcreate") return fmt::format("created {}", group_name(record));
  if (command == "gls") {
    std::string name = record.get("name");
    return fmt::format("{}{} — owner {}, {}", group_name(record),
                       name.empty() ? std::string() : " \"" + name + "\"", record.get("owner"),
                       plural(record.get("count"), "member", "members"));
  }
  if (command == "gpush") {
    return fmt::format("added {} to {}", record.get("users"), group_name(record));
  }
  if (command == "gkick") return fmt::format("removed {} from {}", user, group_name(record));
  if (command == "gadmin") return fmt::format("changed {}'s role in {}", user, group_name(record));
  if (command == "gleave") return fmt::format("you left {}", group_name(record));
  if (command == "gdissolve") return fmt::format("{} is dissolved", group_name(record));
  if (command == "history") {
    std::string where = conversation_name(record.get("conv"), context.self);
    if (record.get("count") == "0") return fmt::format("no messages with {}", where);
    if (!flag(record, "more")) return {};
    return fmt::format("older: history {} --before {}", where, record.get("first"));
  }
  if (command == "sync") {
    return record.get("count") == "0" ? "no conversations yet" : std::string();
  }
  if (command == "olu") {
    std::string users = record.get("users");
    for (auto& c : users) {
      if (c == ',') c = ' ';
    }
    return fmt::format("{} online{}{}{}", record.get("total"), users.empty() ? "" : ": ", users,
                       flag(record, "more") ? " …" : "");
  }
  if (command == "ping") {
    return fmt::format("pong in {:.1f} ms", std::stod(record.get("rtt_us")) / 1000.0);
  }
  if (command == "wait")
    return fmt::format("got {}", plural(record.get("count"), "event", "events"));
  return fmt::format("{}: done", command);
}

std::string render_group_event(const Record& record, const HumanContext& context) {
  const std::string kind = record.get("kind");
  const std::string group = group_name(record);
  std::string user = who(record.get("user"), context.self);
  std::string by = record.get("by");
  if (kind == "added") return fmt::format("{} added {} to {}", by, user, group);
  if (kind == "removed") return fmt::format("{} removed {} from {}", by, user, group);
  if (kind == "left") return fmt::format("{} left {}", user, group);
  if (kind == "dissolved") return fmt::format("{} dissolved {}", by, group);
  if (kind == "role_changed") return fmt::format("{} changed {}'s role in {}", by, user, group);
  return fmt::format("{} changed", group);
}

std::string render_disconnected(const Record& record, const HumanContext& context) {
  std::string reason = record.get("message");
  constexpr std::string_view resuming = "; reconnecting";
  if (reason.ends_with(resuming)) reason.resize(reason.size() - resuming.size());
  std::string node = record.get("node");
  std::string login = context.self.empty() ? "login USER" : "login " + context.self;
  if (flag(record, "reconnect")) {
    return fmt::format("home node {} is down ({}) — reconnecting", node, reason);
  }
  if (record.get("code") == "kicked") {
    if (reason.find("newer login") != std::string::npos) {
      return fmt::format(
          "signed out: another qim logged in with this device id — give each its own --device, "
          "then type {}",
          login);
    }
    return fmt::format("signed out: {} — type {} to come back", reason, login);
  }
  return fmt::format("disconnected from {}: {} — type {} to come back", node, reason, login);
}

std::string render_message(const Record& record, const HumanContext& context,
                           std::string_view sender) {
  std::string clock = local_clock(number(record, "time_ms"), context.now);
  std::string view = record.get("view");
  if (view == "here") return conversation_line(clock, sender, record.get("text"), context.width);
  if (view == "notice") {
    return notice_line(clock, record.get("conv"), context.self, sender, record.get("text"),
                       context.width);
  }
  std::string line =
      message_line(clock, record.get("conv"), context.self, sender, record.get("text"));
  std::size_t arrow = line.find(" › ");
  std::size_t indent = arrow == std::string::npos ? 0 : display_width(line.substr(0, arrow + 5));
  std::string out;
  for (const auto& part :
       wrap_to_width(line, context.width, indent > context.width / 2 ? 2 : indent)) {
    out += out.empty() ? part : "\n" + part;
  }
  return out;
}

// One row of `convs`: name, unread, the last message, cut to the terminal's width.
std::string render_conversation_row(const Record& record, const HumanContext& context) {
  std::uint64_t unread = number(record, "unread");
  std::string row = "  " + pad_to_width(record.get("name"), number(record, "pad")) + "  " +
                    pad_to_width(unread > 0 ? fmt::format("{} unread", unread) : "all read", 10);
  if (!record.get("from").empty()) {
    std::string clock = local_clock(number(record, "time_ms"), context.now);
    row += fmt::format("  {}{}{} › {}", clock, clock.empty() ? "" : " ", record.get("from"),
                       printable(record.get("text")));
  }
  while (!row.empty() && row.back() == ' ')
    row.pop_back();
  return truncate_to_width(row, context.width);
}

}  // namespace

std::string conversation_line(std::string_view clock, std::string_view sender,
                              std::string_view text, std::size_t width) {
  std::string prefix(clock);
  if (!prefix.empty()) prefix += ' ';
  prefix += std::string(sender) + " › ";
  std::size_t indent = display_width(prefix);
  if (indent > width / 2) indent = 2;
  std::string out;
  for (const auto& part : wrap_to_width(prefix + printable(text), width, indent)) {
    out += out.empty() ? part : "\n" + part;
  }
  return out;
}

std::string notice_line(std::string_view clock, std::string_view conversation,
                        std::string_view self, std::string_view sender, std::string_view text,
                        std::size_t width) {
  return truncate_to_width("✉ " + message_line(clock, conversation, self, sender, text), width);
}

std::string conversation_name(std::string_view conversation, std::string_view self) {
  if (conversation.starts_with("g:")) return "#" + std::string(conversation.substr(2));
  if (conversation.starts_with("d:")) {
    std::string_view users = conversation.substr(2);
    std::size_t colon = users.find(':');
    if (colon != std::string_view::npos) {
      std::string_view a = users.substr(0, colon), b = users.substr(colon + 1);
      if (a == self) return std::string(b);
      if (b == self) return std::string(a);
    }
  }
  return std::string(conversation);
}

std::string clock_label(const std::tm& when, const std::tm& now) {
  bool today = when.tm_year == now.tm_year && when.tm_yday == now.tm_yday;
  if (today) return fmt::format("{:02}:{:02}", when.tm_hour, when.tm_min);
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}", when.tm_year + 1900, when.tm_mon + 1,
                     when.tm_mday, when.tm_hour, when.tm_min);
}

std::string local_clock(std::uint64_t server_time_ms, std::time_t now) {
  if (server_time_ms == 0) return {};
  std::time_t seconds = static_cast<std::time_t>(server_time_ms / 1000);
  std::tm when{}, today{};
  if (localtime_r(&seconds, &when) == nullptr || localtime_r(&now, &today) == nullptr) return {};
  return clock_label(when, today);
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\n') {
      out += " ⏎ ";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += c == '\t' ? ' ' : '?';
    } else {
      out += c;
    }
  }
  return out;
}

std::string message_line(std::string_view clock, std::string_view conversation,
                         std::string_view self, std::string_view sender, std::string_view text) {
  std::string line(clock);
  if (!line.empty()) line += ' ';
  std::string where = conversation_name(conversation, self);
  if (conversation.starts_with("g:")) {
    line += fmt::format("{} {}", where, sender);
  } else if (sender == self && where != self) {
    line += fmt::format("{} → {}", sender, where);
  } else {
    line += sender;
  }
  return line + " › " + printable(text);
}

std::string error_hint(std::string_view code, std::string_view command) {
  if (code == "not_authenticated") return "log in first: login USER";
  if (code == "not_friends") return "send a friend request first: fadd USER";
  if (code == "auth_failed" && command == "login") return "check the user name and password";
  if (code == "unavailable") return "the server is unreachable for now; try again in a moment";
  if (code == "timeout") return "nothing arrived in time";
  if (code == "rate_limited") return "too many requests; wait a moment";
  if (code == "usage" && command != "parse") return fmt::format("see: help {}", command);
  return {};
}

std::string reconnecting_prompt(std::string_view user, std::string_view node, std::uint32_t attempt,
                                std::int64_t seconds_to_next) {
  std::string when = seconds_to_next > 0 ? fmt::format("next in {} s", seconds_to_next)
                                         : std::string("trying now");
  return fmt::format("{}: home node {} is down — reconnecting (attempt {}, {})> ", user,
                     node.empty() ? "?" : node, attempt, when);
}

std::string render_human(const Record& record, const HumanContext& context) {
  const std::string& type = record.type();
  if (type == "msg" || type == "hist") return render_message(record, context, record.get("from"));
  // The echo of my own message, in the same form as everyone else's.
  if (type == "sent") return render_message(record, context, context.self);
  if (type == "conversation") return render_conversation_row(record, context);
  if (type == "ok") return render_ok(record, context);
  if (type == "error") {
    std::string message = record.get("message");
    std::string hint = error_hint(record.get("code"), record.get("command"));
    if (message.starts_with("usage: ")) hint.clear();
    return hint.empty() ? "✗ " + message : fmt::format("✗ {} — {}", message, hint);
  }
  if (type == "friend-request") {
    std::string from = record.get("from");
    return fmt::format("{} wants to be your friend — faccept {} or fdecline {}", from, from, from);
  }
  if (type == "friend-accept") return record.get("from") + " accepted your friend request";
  if (type == "friend-decline") return record.get("from") + " declined your friend request";
  if (type == "friend-remove") return record.get("from") + " removed you as a friend";
  if (type == "presence") {
    return record.get("user") + (flag(record, "online") ? " is online" : " went offline");
  }
  if (type == "group-event") return render_group_event(record, context);
  if (type == "disconnected") return render_disconnected(record, context);
  if (type == "reconnected") return "back on " + record.get("node");
  if (type == "caught-up") {
    // Quiet when nothing was missed: "back on" already said all there is.
    if (!flag(record, "ok")) {
      return fmt::format("could not catch up yet ({}) — missed messages will follow",
                         record.get("message"));
    }
    std::string missed = record.get("missed");
    if (missed == "0") return {};
    return plural(missed, "new message", "new messages") + " while you were away";
  }
  if (type == "redirected") return {};  // part of logging in; the login line names the node
  if (type == "friend") {
    std::string user = record.get("user"), state = record.get("state");
    if (state == "pending_in") {
      return fmt::format("  {}  wants to be your friend (faccept {})", user, user);
    }
    if (state == "pending_out") return fmt::format("  {}  request sent", user);
    return fmt::format("  {}  {}", user, flag(record, "online") ? "online" : "offline");
  }
  if (type == "group") {
    std::string name = record.get("name");
    return fmt::format("  {}{}  {} · {}", group_name(record),
                       name.empty() ? std::string() : " \"" + name + "\"",
                       plural(record.get("members"), "member", "members"), record.get("role"));
  }
  if (type == "member") {
    std::string role = record.get("role");
    return fmt::format("  {}{}  {}", record.get("user"), role == "member" ? "" : " (" + role + ")",
                       flag(record, "online") ? "online" : "offline");
  }
  if (type == "conv") {
    std::uint64_t head = std::stoull("0" + record.get("head"));
    std::uint64_t read = std::stoull("0" + record.get("read"));
    std::string where = conversation_name(record.get("conv"), context.self);
    return head > read ? fmt::format("  {}  {} unread", where, head - read)
                       : fmt::format("  {}  all read", where);
  }
  return record.to_text();
}

}  // namespace qim::cli
