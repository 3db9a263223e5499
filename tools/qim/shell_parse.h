#pragma once
// Words and flags of a qim command line (pure; shared by the shell's command files).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace qim::cli {

// A word of a command line and where it starts in the raw line (so `-m` can take the rest).
struct Token {
  std::string text;
  std::size_t offset = 0;
};

// Splits on blanks; "double" and 'single' quotes group words. Returns false (with `error`) on
// an unterminated quote.
bool tokenize(std::string_view line, std::vector<Token>& tokens, std::string& error);

// A whole decimal number.
bool parse_number(std::string_view text, std::uint64_t& value);
// "a,b,,c" → {a, b, c}.
std::vector<std::string> split_list(std::string_view text);
std::string join(const std::vector<std::string>& items);

// Flags of one command: each known flag takes a value, except the listed switches.
struct Flags {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;
  std::vector<std::string> switches;
  std::string error;

  bool has(std::string_view name) const;
  std::string value(const std::string& name) const;
};

Flags parse_flags(const std::vector<Token>& args, std::initializer_list<std::string_view> valued,
                  std::initializer_list<std::string_view> switches = {});

}  // namespace qim::cli
