// Conversation mode (:c, /query, /part, plain lines), the `convs` list, whoami and clear.
#include <algorithm>

#include <fmt/core.h>

#include "conversation.h"
#include "human_format.h"
#include "qim/ids.h"
#include "shell.h"
#include "text_width.h"

namespace qim::cli {

void Shell::mark_read(const std::string& conversation, std::uint64_t seq) {
  if (seq == 0) return;
  static_cast<void>(client_.ack(conversation, seq));
}

bool Shell::cmd_enter(const std::string& name) {
  if (!client_.logged_in()) return fail(":c", "not_authenticated", "not logged in");
  const std::string self = client_.user();
  const std::string conversation = conversation_of_name(name, self);
  if (conversation.empty()) {
    return fail(":c", "usage",
                name == self ? std::string("that is you: :c takes a friend or a #group")
                             : fmt::format("'{}' is not a user or a #group", name));
  }
  auto states = client_.sync();
  if (!states) return fail(":c", states.error());
  auto state = std::find_if(states->begin(), states->end(), [&](const ConversationState& s) {
    return s.conversation == conversation;
  });
  std::uint64_t unread = 0;
  if (state != states->end()) {
    unread = unread_count(state->head_seq, state->read_seq);
  } else if (name.starts_with('#')) {
    return fail(":c", "not_found", fmt::format("you are not in {} (groups lists yours)", name));
  } else {
    // No message yet: a conversation can only start with a friend.
    auto friends = client_.friends();
    if (!friends) return fail(":c", friends.error());
    bool befriended = std::any_of(friends->begin(), friends->end(), [&](const Friend& entry) {
      return entry.user == name && entry.state == FriendState::accepted;
    });
    if (!befriended) {
      return fail(":c", "not_friends", fmt::format("{} is not your friend (yet)", name));
    }
  }
  auto page = client_.history(conversation, 0, messages_to_show(unread));
  if (!page) return fail(":c", page.error());
  {
    std::lock_guard lock(current_mutex_);
    current_ = conversation;
  }
  for (const auto& message : page->messages) {
    printer_.result(Record("hist")
                        .add("conv", message.conversation)
                        .add("seq", message.seq)
                        .add("from", message.sender)
                        .add("text", message.body)
                        .hide("time_ms", std::to_string(message.server_time_ms))
                        .hide("view", "here"));
  }
  if (!page->messages.empty()) mark_read(conversation, page->messages.back().seq);
  printer_.result(Record("ok")
                      .add("command", "conv")
                      .add("conv", conversation)
                      .add("name", conversation_name(conversation, self))
                      .add("count", page->messages.size())
                      .add("unread", unread)
                      .hide("first", page->messages.empty()
                                         ? std::string()
                                         : std::to_string(page->messages.front().seq)));
  return true;
}

bool Shell::cmd_leave() {
  std::string left;
  {
    std::lock_guard lock(current_mutex_);
    left.swap(current_);
  }
  if (left.empty()) return fail(":c", "usage", "not in a conversation (:c NAME enters one)");
  printer_.result(Record("ok")
                      .add("command", "part")
                      .add("conv", left)
                      .add("name", conversation_name(left, client_.user())));
  return true;
}

bool Shell::cmd_say(std::string_view text) {
  auto conversation = parse_conversation(current_conversation());
  if (!conversation) return fail("send", "usage", "not in a conversation (:c NAME enters one)");
  if (conversation->kind == ConversationRef::Kind::group) {
    return report_send(client_.send_to_group(conversation->first, text), text);
  }
  const std::string& peer =
      conversation->first == client_.user() ? conversation->second : conversation->first;
  return report_send(client_.send_to_user(peer, text), text);
}

bool Shell::cmd_convs(const Args& args) {
  if (!args.empty()) return usage("convs");
  auto states = client_.sync();
  if (!states) return fail("convs", states.error());
  const std::string self = client_.user();
  std::vector<ConversationRow> rows;
  for (const auto& state : states.value()) {
    ConversationRow row;
    row.conversation = state.conversation;
    row.name = conversation_name(state.conversation, self);
    row.unread = unread_count(state.head_seq, state.read_seq);
    row.head_seq = state.head_seq;
    if (state.head_seq > 0) {
      auto last = client_.history(state.conversation, 0, 1);
      if (!last) return fail("convs", last.error());
      if (!last->messages.empty()) {
        const Message& message = last->messages.back();
        row.last_time_ms = message.server_time_ms;
        row.last_sender = message.sender;
        row.last_text = message.body;
      }
    }
    rows.push_back(std::move(row));
  }
  order_conversations(rows);
  std::size_t name_width = 0;
  std::uint64_t unread = 0;
  for (const auto& row : rows) {
    name_width = std::max(name_width, display_width(row.name));
    unread += row.unread;
  }
  for (const auto& row : rows) {
    printer_.result(Record("conversation")
                        .add("conv", row.conversation)
                        .add("name", row.name)
                        .add("unread", row.unread)
                        .add("head", row.head_seq)
                        .add("time_ms", row.last_time_ms)
                        .add("from", row.last_sender)
                        .add("text", row.last_text)
                        .hide("pad", std::to_string(name_width)));
  }
  printer_.result(
      Record("ok").add("command", "convs").add("count", rows.size()).add("unread", unread));
  return true;
}

bool Shell::cmd_whoami(const Args& args) {
  if (!args.empty()) return usage("whoami");
  bool logged_in = client_.logged_in();
  printer_.result(Record("ok")
                      .add("command", "whoami")
                      .add("user", logged_in ? client_.user() : std::string())
                      .add("node", client_.node())
                      .add("device", logged_in ? device_ : options_.device)
                      .add("tls", options_.tls.enabled));
  return true;
}

bool Shell::cmd_clear(const Args& args) {
  if (!args.empty()) return usage("clear");
  if (human()) {
    // Home, clear the screen and the scrollback.
    printer_.raw("\033[H\033[2J\033[3J");
    return true;
  }
  printer_.result(Record("ok").add("command", "clear"));
  return true;
}

}  // namespace qim::cli
