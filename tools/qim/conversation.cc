#include "conversation.h"

#include <algorithm>
#include <array>

#include "qim/ids.h"

namespace qim::cli {
namespace {

// ':' commands that stay commands in a conversation; any other ":word" is text (":)").
constexpr std::array<std::string_view, 4> colon_commands = {":c", ":q", ":all", ":olu"};

std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> words;
  for (std::size_t at = 0; at < line.size();) {
    std::size_t begin = line.find_first_not_of(" \t", at);
    if (begin == std::string_view::npos) break;
    std::size_t end = std::min(line.find_first_of(" \t", begin), line.size());
    words.push_back(line.substr(begin, end - begin));
    at = end;
  }
  return words;
}

// `:c [NAME]`, `/query NAME`, `/part`: the words after the command.
ParsedLine conversation_switch(std::string_view command,
                               const std::vector<std::string_view>& words) {
  std::size_t args = words.size() - 1;
  if (command == "part") {
    if (args != 0) return {LineKind::invalid, "usage: /part (leaves the conversation)"};
    return {LineKind::leave, {}};
  }
  if (args == 0 && command == ":c") return {LineKind::leave, {}};
  if (args != 1) {
    return {LineKind::invalid, command == ":c" ? "usage: :c USER | :c #GROUP | :c (leave)"
                                               : "usage: /query USER | /query #GROUP"};
  }
  return {LineKind::enter, std::string(words[1])};
}

}  // namespace

ParsedLine parse_line(std::string_view line, bool in_conversation) {
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n'))
    line.remove_suffix(1);
  std::size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  std::string_view rest = line.substr(first);
  if (rest.starts_with("//") && in_conversation) {
    return {LineKind::message, std::string(line.substr(0, first)) + std::string(rest.substr(1))};
  }
  if (rest.starts_with('/')) {
    std::string_view command = rest.substr(1);
    auto words = words_of(command);
    if (words.empty() || command.front() == ' ' || command.front() == '\t') {
      return {LineKind::invalid, "a command goes right after the '/': /fls, /part, /query bob"};
    }
    if (words.front() == "query" || words.front() == "part") {
      return conversation_switch(words.front(), words);
    }
    return {LineKind::command, std::string(command)};
  }
  auto words = words_of(rest);
  if (words.front() == ":c") return conversation_switch(":c", words);
  if (!in_conversation) {
    if (rest.starts_with('#')) return {};
    return {LineKind::command, std::string(rest)};
  }
  if (std::find(colon_commands.begin(), colon_commands.end(), words.front()) !=
      colon_commands.end()) {
    return {LineKind::command, std::string(rest)};
  }
  return {LineKind::message, std::string(line)};
}

std::string conversation_of_name(std::string_view name, std::string_view self) {
  if (name.starts_with('#')) {
    std::string_view group = name.substr(1);
    return is_valid_id(group) ? group_conversation(group) : std::string();
  }
  if (!is_valid_id(name) || name == self || self.empty()) return {};
  return direct_conversation(self, name);
}

std::uint64_t unread_count(std::uint64_t head_seq, std::uint64_t read_seq) {
  return head_seq > read_seq ? head_seq - read_seq : 0;
}

std::uint32_t messages_to_show(std::uint64_t unread) {
  constexpr std::uint64_t context = 5, min_shown = 10, max_shown = 100;
  return static_cast<std::uint32_t>(std::clamp(unread + context, min_shown, max_shown));
}

void order_conversations(std::vector<ConversationRow>& rows) {
  std::sort(rows.begin(), rows.end(), [](const ConversationRow& a, const ConversationRow& b) {
    if (a.last_time_ms != b.last_time_ms) return a.last_time_ms > b.last_time_ms;
    if (a.head_seq != b.head_seq) return a.head_seq > b.head_seq;
    return a.name < b.name;
  });
}

}  // namespace qim::cli
