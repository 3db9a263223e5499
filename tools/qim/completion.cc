#include "completion.h"

#include <algorithm>

namespace qim::cli {
namespace {

enum class Wants { nothing, user, group, command, user_or_group };

// What the word after `previous` in a `command` line names.
Wants wanted(std::string_view command, std::string_view previous, std::size_t word_index) {
  if (word_index == 0) return Wants::command;
  if (command == ":c" || command == "/query") {
    return word_index == 1 ? Wants::user_or_group : Wants::nothing;
  }
  // In a conversation commands start with '/': they complete as without it.
  if (command.starts_with('/')) command.remove_prefix(1);
  if (command == "help") return word_index == 1 ? Wants::command : Wants::nothing;
  if (previous == "-g") return Wants::group;
  if (previous == "-r" || previous == "-u") return Wants::user;
  if (previous == "-us") return Wants::user;
  if (word_index == 1) {
    if (command == "fadd" || command == "faccept" || command == "fdecline" || command == "fdel") {
      return Wants::user;
    }
    if (command == "history") return Wants::user_or_group;
    if (command == "gls" || command == "gleave" || command == "gdissolve") return Wants::group;
  }
  return Wants::nothing;
}

}  // namespace

const std::vector<std::string>& command_names() {
  static const std::vector<std::string> names = {
      "/part",  "/query",  ":all",      ":c",    ":olu",     ":q",   "clear",
      "convs",  "exit",    "faccept",   "fadd",  "fdecline", "fdel", "fls",
      "gadmin", "gcreate", "gdissolve", "gkick", "gleave",   "gls",  "gpush",
      "groups", "help",    "history",   "login", "logout",   "olu",  "passwd",
      "ping",   "quit",    "register",  "send",  "sync",     "wait", "whoami"};
  return names;
}

std::vector<std::string> complete(std::string_view line, const CompletionNames& names,
                                  bool in_conversation) {
  std::size_t start = line.find_last_of(" \t");
  start = start == std::string_view::npos ? 0 : start + 1;
  std::string_view word = line.substr(start);
  // The words before the one being typed.
  std::vector<std::string_view> words;
  for (std::size_t i = 0; i < start;) {
    std::size_t end = line.find_first_of(" \t", i);
    if (end == std::string_view::npos || end > start) end = start;
    if (end > i) words.push_back(line.substr(i, end - i));
    i = end + 1;
  }
  Wants wants = wanted(words.empty() ? std::string_view() : words.front(),
                       words.empty() ? std::string_view() : words.back(), words.size());
  std::string_view first = words.empty() ? word : words.front();
  if (in_conversation && !first.starts_with('/') && !first.starts_with(':')) return {};
  std::vector<std::string> out;
  auto offer = [&](const std::string& candidate) {
    if (candidate.starts_with(word)) out.push_back(candidate);
  };
  if (wants == Wants::command) {
    for (const auto& name : command_names()) {
      offer(name);
      // "/fls" in a conversation.
      if (word.starts_with('/') && !name.starts_with('/') && !name.starts_with(':')) {
        offer("/" + name);
      }
    }
    if (words.empty() && !in_conversation) {
      // "bob;;" starts a quick message to a friend.
      for (const auto& user : names.friends)
        offer(user + ";;");
    }
  }
  if (wants == Wants::user || wants == Wants::user_or_group) {
    // -us takes a comma list: complete its last item.
    std::size_t comma = word.rfind(',');
    if (comma != std::string_view::npos) {
      std::string_view head = word.substr(0, comma + 1), tail = word.substr(comma + 1);
      for (const auto& user : names.friends) {
        if (user.starts_with(tail)) out.push_back(std::string(head) + user);
      }
    } else {
      for (const auto& user : names.friends)
        offer(user);
    }
  }
  if (wants == Wants::group || wants == Wants::user_or_group) {
    for (const auto& group : names.groups) {
      if (wants == Wants::user_or_group) {
        offer("#" + group);
      } else {
        offer(group);
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace qim::cli
