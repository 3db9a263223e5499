#pragma once
// Terminal display width of UTF-8 text: CJK and emoji take two columns, combining marks and
// joiners none. Used to truncate and wrap chat lines so they fit the terminal. wcwidth() answers
// after setup_locale() (tools/qim/locale_setup.h); a small table answers where it cannot (a
// non-UTF-8 locale, emoji newer than the C library), so the result never depends on it alone.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace qim::cli {

// Columns of one code point: 0 (combining, joiner, control), 1 or 2.
int codepoint_width(char32_t codepoint);
// Columns of `text`; a byte that is not valid UTF-8 counts as one column (it shows as one '?').
std::size_t display_width(std::string_view text);
// `text` cut to at most `columns` columns, ending in "…" when it was cut; never splits a
// character or separates it from its combining marks. columns 0: no limit.
std::string truncate_to_width(std::string_view text, std::size_t columns);
// `text` padded with spaces to `columns` columns (unchanged when it is already as wide).
std::string pad_to_width(std::string_view text, std::size_t columns);
// `text` in lines of at most `columns` columns, broken at spaces where possible (else inside a
// word, between characters), every line after the first starting with `indent` spaces.
// columns 0 (or not wider than the indent): one line.
std::vector<std::string> wrap_to_width(std::string_view text, std::size_t columns,
                                       std::size_t indent);

}  // namespace qim::cli
