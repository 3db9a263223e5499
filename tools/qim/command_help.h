#pragma once
// The commands' usage lines and what they do: `help`, `help COMMAND` and usage errors.
#include <span>
#include <string_view>

namespace qim::cli {

struct CommandHelp {
  const char* usage;
  const char* what;
};

std::span<const CommandHelp> command_help();

// Whether `usage` documents `wanted` (its first word, or a word after a '|'); "" matches all.
bool help_matches(std::string_view usage, std::string_view wanted);

}  // namespace qim::cli
