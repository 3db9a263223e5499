#pragma once
// The locale qim runs in. libedit decodes keystrokes with the C library's multibyte functions:
// in the "C" locale every byte above 0x7f is invalid and silently dropped, so Chinese, accents
// and emoji typed interactively would vanish. Must run before the line editor starts.
#include <string>

namespace qim::cli {

// Sets the environment's locale; when its character set is not UTF-8 (no LANG, LANG=C), the
// character type falls back to C.UTF-8 (or en_US.UTF-8). Numbers stay in the "C" format so
// script output never depends on the locale. Returns the LC_CTYPE in force.
std::string setup_locale();

// True when `codeset` (nl_langinfo(CODESET)) names UTF-8.
bool is_utf8_codeset(const std::string& codeset);

}  // namespace qim::cli
