// Sending and paging back: send, <user>;;<text>, history.
#include <algorithm>
#include <optional>

#include <fmt/core.h>

#include "qim/ids.h"
#include "shell.h"

namespace qim::cli {

bool Shell::report_send(const Result<SendAck>& ack, std::string_view text) {
  if (!ack) return fail("send", ack.error());
  Record record("sent");
  record.add("conv", ack->conversation)
      .add("seq", ack->seq)
      .add("id", ack->client_msg_id)
      .add("duplicate", ack->duplicate)
      .hide("text", std::string(text))
      .hide("time_ms", std::to_string(ack->server_time_ms));
  if (ack->conversation == current_conversation()) record.hide("view", "here");
  printer_.result(record);
  // My own message is read (script mode's auto_ack does this for it).
  if (human()) mark_read(ack->conversation, ack->seq);
  return true;
}

bool Shell::cmd_quick_send(std::string_view line, std::size_t separator) {
  std::string_view user = line.substr(0, separator);
  std::string_view text = line.substr(separator + 2);
  if (text.empty()) return fail("send", "usage", "usage: <user>;;<text> (the text is empty)");
  return report_send(client_.send_to_user(user, text), text);
}

bool Shell::cmd_send(const Args& args, std::string_view line) {
  // Everything after -m is the text, verbatim (one quoted word is unquoted).
  auto text_flag =
      std::find_if(args.begin(), args.end(), [](const Token& token) { return token.text == "-m"; });
  if (text_flag == args.end()) return usage("send");
  std::string text;
  std::size_t rest = text_flag->offset + 2;
  if (rest < line.size()) {
    std::string_view raw = line.substr(rest);
    raw.remove_prefix(std::min(raw.find_first_not_of(" \t"), raw.size()));
    bool one_quoted_word = std::next(text_flag) + 1 == args.end() && !raw.empty() &&
                           (raw.front() == '"' || raw.front() == '\'');
    text = one_quoted_word ? std::next(text_flag)->text : std::string(raw);
  }
  Args before(args.begin(), text_flag);
  auto flags = parse_flags(before, {"-r", "-g"});
  if (!flags.error.empty()) return fail("send", "usage", flags.error);
  std::string user = flags.value("-r"), group = flags.value("-g");
  if (user.empty() == group.empty() || !flags.positional.empty()) return usage("send");
  if (text.empty()) return fail("send", "usage", "usage: send -r <user> -m <text> (empty text)");
  return report_send(
      user.empty() ? client_.send_to_group(group, text) : client_.send_to_user(user, text), text);
}

bool Shell::cmd_history(const Args& args) {
  auto flags = parse_flags(args, {"-g", "--before", "--limit"});
  if (!flags.error.empty()) return fail("history", "usage", flags.error);
  std::uint64_t before = 0, limit = 20;
  if (!flags.value("--before").empty() && !parse_number(flags.value("--before"), before)) {
    return usage("history");
  }
  if (!flags.value("--limit").empty() &&
      (!parse_number(flags.value("--limit"), limit) || limit == 0 || limit > 1000)) {
    return usage("history");
  }
  std::vector<std::string> candidates;
  std::string group = flags.value("-g");
  if (!group.empty()) {
    if (!flags.positional.empty()) return usage("history");
    candidates.push_back(group_conversation(group));
  } else {
    if (flags.positional.size() != 1) return usage("history");
    const std::string& target = flags.positional.front();
    if (target.starts_with('#') && is_valid_id(std::string_view(target).substr(1))) {
      candidates.push_back(group_conversation(std::string_view(target).substr(1)));
    } else if (parse_conversation(target)) {
      candidates.push_back(target);
    } else if (is_valid_id(target)) {
      // A bare name: a direct conversation with that user first, else a group of that name.
      if (client_.user().empty()) return fail("history", "not_authenticated", "log in first");
      candidates.push_back(direct_conversation(client_.user(), target));
      candidates.push_back(group_conversation(target));
    } else {
      return fail("history", "usage",
                  fmt::format("'{}' is not a user, group or conversation", target));
    }
  }
  std::optional<Result<MessagePage>> first_answer;
  for (const auto& conversation : candidates) {
    auto page = client_.history(conversation, before, static_cast<std::uint32_t>(limit));
    bool useful = page.ok() && !page->messages.empty();
    if (!first_answer) first_answer.emplace(page);
    if (useful || &conversation == &candidates.back()) {
      if (!page.ok() && first_answer->ok()) page = *first_answer;
      if (!page) return fail("history", page.error());
      bool here = conversation == current_conversation();
      for (const auto& message : page->messages) {
        Record record("hist");
        record.add("conv", message.conversation)
            .add("seq", message.seq)
            .add("from", message.sender)
            .add("text", message.body)
            .hide("time_ms", std::to_string(message.server_time_ms));
        if (here) record.hide("view", "here");
        printer_.result(record);
      }
      // Shown, so read.
      if (!page->messages.empty()) mark_read(conversation, page->messages.back().seq);
      printer_.result(
          Record("ok")
              .add("command", "history")
              .add("conv", page->conversation.empty() ? conversation : page->conversation)
              .add("count", page->messages.size())
              .add("more", page->more)
              .hide("first", page->messages.empty() ? std::string()
                                                    : std::to_string(page->messages.front().seq)));
      return true;
    }
  }
  return true;
}

}  // namespace qim::cli
