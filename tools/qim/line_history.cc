#include "line_history.h"

#include <vector>

#include "shell.h"

namespace qim::cli {

std::optional<std::string> history_entry(std::string_view line) {
  std::vector<Token> tokens;
  std::string error;
  if (!tokenize(line, tokens, error) || tokens.empty()) return std::nullopt;
  const std::string& command = tokens.front().text;
  bool login = command == "login", register_user = command == "register";
  if (command == "passwd") return std::string("passwd");
  if (!login && !register_user) return std::string(line);
  // Keep the command, the user and the flags that are not secrets.
  std::string kept = command;
  std::size_t positional = 0;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const std::string& word = tokens[i].text;
    if (word == "-p" || word == "-t") {
      ++i;  // the secret after it
      continue;
    }
    if (word == "-u" || word == "-d") {
      kept += " " + word;
      if (i + 1 < tokens.size()) kept += " " + tokens[++i].text;
      continue;
    }
    if (!word.starts_with('-') && positional++ == 0) kept += " " + word;  // the user
  }
  return kept;
}

std::filesystem::path history_path(const char* xdg_state_home, const char* home) {
  if (xdg_state_home != nullptr && *xdg_state_home == '/') {
    return std::filesystem::path(xdg_state_home) / "qim" / "history";
  }
  if (home != nullptr && *home != '\0') {
    return std::filesystem::path(home) / ".local" / "state" / "qim" / "history";
  }
  return {};
}

}  // namespace qim::cli
