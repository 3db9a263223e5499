#pragma once
// Conversation mode (IRC style): the pure part. Which lines are commands and which are text
// for the current conversation, what a conversation name refers to, and the unread counts and
// order of the `convs` list. Tested without a server (tests/unit/qim_cli_test.cc).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qim::cli {

// What one typed line asks for.
enum class LineKind {
  blank,    // nothing, or a # comment outside a conversation
  command,  // `text` is the command line (a leading '/' removed)
  message,  // `text` goes to the current conversation as it is
  enter,    // :c NAME, /query NAME: `text` is NAME
  leave,    // :c alone, /part
  invalid,  // `text` says what is wrong
};

struct ParsedLine {
  LineKind kind = LineKind::blank;
  std::string text;
};

// In a conversation, plain lines are messages; commands start with '/' (`/fls`; `//x` sends
// "/x") or are ':' commands (`:c`, `:q`). Outside one, every line is a command, '/' optional.
ParsedLine parse_line(std::string_view line, bool in_conversation);

// The conversation a name typed by `self` refers to: "#team" → g:team, "bob" → d:alice:bob.
// "" when the name is not a valid user or group id (or is `self`).
std::string conversation_of_name(std::string_view name, std::string_view self);

// Unread messages: the conversation's head past this device's read cursor.
std::uint64_t unread_count(std::uint64_t head_seq, std::uint64_t read_seq);

// How many of the last messages entering a conversation shows: the unread ones and a few
// before them for context, within [min_shown, max_shown].
std::uint32_t messages_to_show(std::uint64_t unread);

// One row of `convs`.
struct ConversationRow {
  std::string conversation;
  std::string name;  // as `self` sees it: "bob", "#team"
  std::uint64_t unread = 0;
  std::uint64_t head_seq = 0;
  // The last message, when there is one (history may be trimmed).
  std::uint64_t last_time_ms = 0;
  std::string last_sender;
  std::string last_text;
};

// Most recent first (by the last message's time, then head), ties by name.
void order_conversations(std::vector<ConversationRow>& rows);

}  // namespace qim::cli
