#pragma once
// The line history kept across runs (~/.local/state/qim/history): what a typed line may leave
// there. Passwords never do: the line is kept without them, or not at all.
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace qim::cli {

// The line as history keeps it: `login alice secret` → `login alice`, `login -u a -p x` →
// `login -u a`, `register bob pw` → `register bob`, `passwd old new` → `passwd`; blank lines and
// lines that do not parse (an unterminated quote may hide a password) are not kept.
std::optional<std::string> history_entry(std::string_view line);

// $XDG_STATE_HOME/qim/history, else $HOME/.local/state/qim/history; empty when neither is set.
std::filesystem::path history_path(const char* xdg_state_home, const char* home);

}  // namespace qim::cli
