#include "text_width.h"

#include <algorithm>
#include <cwchar>
#include <iterator>

namespace qim::cli {
namespace {

struct Range {
  char32_t first;
  char32_t last;
};

// Marks drawn on the character before them, joiners and variation selectors.
constexpr Range zero_width[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD},   {0x0610, 0x061A},   {0x064B, 0x065F},
    {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x0E47, 0x0E4E},   {0x1AB0, 0x1AFF},   {0x1DC0, 0x1DFF},
    {0x200B, 0x200F}, {0x2028, 0x202E}, {0x2060, 0x2064},   {0x20D0, 0x20FF},   {0xFE00, 0xFE0F},
    {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0x1F3FB, 0x1F3FF}, {0xE0000, 0xE01EF},
};

// East Asian wide and fullwidth characters and emoji shown as pictures (two columns).
constexpr Range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
    {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
    {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
    {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
    {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
    {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
    {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
    {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
    {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F004, 0x1F004},
    {0x1F0CF, 0x1F0CF}, {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F2FF},
    {0x1F300, 0x1F3FA}, {0x1F400, 0x1F64F}, {0x1F680, 0x1F6FF}, {0x1F7E0, 0x1F7EB},
    {0x1F90C, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

bool in(const Range* begin, const Range* end, char32_t codepoint) {
  auto it = std::upper_bound(begin, end, codepoint, [](char32_t value, const Range& range) {
    return value < range.first;
  });
  return it != begin && codepoint <= std::prev(it)->last;
}

struct Char {
  char32_t codepoint = 0;
  std::size_t length = 1;
  bool valid = false;
};

// The UTF-8 sequence at `at` (overlong forms, surrogates and stray bytes are invalid, one
// byte long).
Char decode(std::string_view text, std::size_t at) {
  auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char lead = byte(at);
  if (lead < 0x80) return {lead, 1, true};
  std::size_t length = lead >= 0xF0 && lead <= 0xF4   ? 4
                       : lead >= 0xE0 && lead <= 0xEF ? 3
                       : lead >= 0xC2 && lead <= 0xDF ? 2
                                                      : 0;
  if (length == 0 || at + length > text.size()) return {};
  char32_t codepoint = lead & (0x7F >> length);
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return {};
    codepoint = (codepoint << 6) | (byte(at + i) & 0x3F);
  }
  static constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (codepoint < smallest[length] || codepoint > 0x10FFFF ||
      (codepoint >= 0xD800 && codepoint <= 0xDFFF)) {
    return {};
  }
  return {codepoint, length, true};
}

int char_width(const Char& c) {
  return c.valid ? codepoint_width(c.codepoint) : 1;
}

}  // namespace

int codepoint_width(char32_t codepoint) {
  if (codepoint < 0x20 || (codepoint >= 0x7F && codepoint < 0xA0)) return 0;
  if (codepoint < 0x7F) return 1;
  // Emoji first: C libraries older than the emoji disagree with every current terminal.
  if (codepoint >= 0x1F000 && in(std::begin(wide), std::end(wide), codepoint)) return 2;
  if (in(std::begin(zero_width), std::end(zero_width), codepoint)) return 0;
  int width = ::wcwidth(static_cast<wchar_t>(codepoint));
  if (width >= 0) return width;
  // Not a UTF-8 locale, or not a character the C library knows.
  return in(std::begin(wide), std::end(wide), codepoint) ? 2 : 1;
}

std::size_t display_width(std::string_view text) {
  std::size_t columns = 0;
  for (std::size_t at = 0; at < text.size();) {
    Char c = decode(text, at);
    columns += static_cast<std::size_t>(char_width(c));
    at += c.length;
  }
  return columns;
}

std::string truncate_to_width(std::string_view text, std::size_t columns) {
  if (columns == 0 || display_width(text) <= columns) return std::string(text);
  const std::size_t budget = columns - 1;  // one column for the ellipsis
  std::size_t used = 0, end = 0;
  bool kept_previous = true;
  for (std::size_t at = 0; at < text.size();) {
    Char c = decode(text, at);
    auto width = static_cast<std::size_t>(char_width(c));
    bool keep = width == 0 ? kept_previous : used + width <= budget;
    if (!keep) break;
    used += width;
    at += c.length;
    end = at;
    kept_previous = keep;
  }
  return std::string(text.substr(0, end)) + "…";
}

std::string pad_to_width(std::string_view text, std::size_t columns) {
  std::string out(text);
  std::size_t width = display_width(text);
  if (width < columns) out.append(columns - width, ' ');
  return out;
}

std::vector<std::string> wrap_to_width(std::string_view text, std::size_t columns,
                                       std::size_t indent) {
  if (columns == 0 || columns <= indent + 1) return {std::string(text)};
  std::vector<std::string> lines;
  const std::string margin(indent, ' ');
  std::size_t capacity = columns, start = 0, used = 0;
  // The last place the current line may end: before a space, or after a wide character
  // (CJK text has no spaces); the next line then starts at cut_next.
  bool can_cut = false;
  std::size_t cut_end = 0, cut_next = 0;
  auto emit = [&](std::size_t end) {
    lines.push_back((lines.empty() ? std::string() : margin) +
                    std::string(text.substr(start, end - start)));
  };
  for (std::size_t at = 0; at < text.size();) {
    Char c = decode(text, at);
    auto width = static_cast<std::size_t>(char_width(c));
    if (width > 0 && used + width > capacity && at > start) {
      if (c.valid && c.codepoint == ' ') {
        // The line is full right at a space: it ends there and the space goes.
        emit(at);
        start = at + 1;
      } else if (can_cut) {
        emit(cut_end);
        start = cut_next;
      } else {
        emit(at);
        start = at;
      }
      // The rest is measured again on the narrower continuation line.
      at = start;
      used = 0;
      capacity = columns - indent;
      can_cut = false;
      continue;
    }
    used += width;
    at += c.length;
    if (c.valid && c.codepoint == ' ') {
      can_cut = true;
      cut_end = at - 1;
      cut_next = at;
    } else if (width == 2) {
      can_cut = true;
      cut_end = at;
      cut_next = at;
    } else if (width == 0 && can_cut && cut_end == cut_next && cut_next == at - c.length) {
      // A mark on a wide character stays with it.
      cut_end = at;
      cut_next = at;
    }
  }
  if (start < text.size() || lines.empty()) emit(text.size());
  return lines;
}

}  // namespace qim::cli
