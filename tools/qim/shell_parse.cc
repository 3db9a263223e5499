#include "shell_parse.h"

#include <algorithm>
#include <charconv>

#include <fmt/core.h>

namespace qim::cli {

bool parse_number(std::string_view text, std::uint64_t& value) {
  if (text.empty()) return false;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    if (comma > start) items.emplace_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return items;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += ',';
    out += item;
  }
  return out;
}

bool Flags::has(std::string_view name) const {
  return std::find(switches.begin(), switches.end(), name) != switches.end();
}

std::string Flags::value(const std::string& name) const {
  auto it = values.find(name);
  return it == values.end() ? std::string() : it->second;
}

Flags parse_flags(const std::vector<Token>& args, std::initializer_list<std::string_view> valued,
                  std::initializer_list<std::string_view> switches) {
  Flags flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i].text;
    if (word.size() < 2 || word[0] != '-') {
      flags.positional.push_back(word);
      continue;
    }
    if (std::find(switches.begin(), switches.end(), word) != switches.end()) {
      flags.switches.push_back(word);
      continue;
    }
    if (std::find(valued.begin(), valued.end(), word) == valued.end()) {
      flags.error = fmt::format("unknown flag '{}'", word);
      return flags;
    }
    if (i + 1 >= args.size()) {
      flags.error = fmt::format("flag '{}' needs a value", word);
      return flags;
    }
    flags.values[word] = args[++i].text;
  }
  return flags;
}

bool tokenize(std::string_view line, std::vector<Token>& tokens, std::string& error) {
  tokens.clear();
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
      ++i;
    if (i >= line.size()) break;
    Token token;
    token.offset = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') {
      char c = line[i];
      if (c == '"' || c == '\'') {
        std::size_t close = line.find(c, i + 1);
        if (close == std::string_view::npos) {
          error = fmt::format("unterminated {} quote", c == '"' ? "double" : "single");
          return false;
        }
        token.text.append(line.substr(i + 1, close - i - 1));
        i = close + 1;
      } else {
        token.text += c;
        ++i;
      }
    }
    tokens.push_back(std::move(token));
  }
  return true;
}

}  // namespace qim::cli
