#pragma once
// Tab completion: the command word, then friend and group names where a command takes them.
#include <string>
#include <string_view>
#include <vector>

namespace qim::cli {

struct CompletionNames {
  std::vector<std::string> friends;
  std::vector<std::string> groups;  // group ids, without '#'
};

// The names of every command (for the first word and `help`).
const std::vector<std::string>& command_names();

// Candidates for the word being typed: `line` is the text before the cursor; the word starts
// after its last blank. Sorted, each once. In a conversation a line is text unless it starts
// with '/' or ':', so only such a first word completes (as a command).
std::vector<std::string> complete(std::string_view line, const CompletionNames& names,
                                  bool in_conversation = false);

}  // namespace qim::cli
