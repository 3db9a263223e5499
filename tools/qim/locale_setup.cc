#include "locale_setup.h"

#include <langinfo.h>

#include <algorithm>
#include <cctype>
#include <clocale>

namespace qim::cli {

bool is_utf8_codeset(const std::string& codeset) {
  std::string lower;
  for (char c : codeset) {
    if (c != '-' && c != '_')
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return lower == "utf8";
}

std::string setup_locale() {
  // A broken LANG (a locale that is not installed) makes this fail; the fallback below fixes
  // the part that matters.
  std::setlocale(LC_ALL, "");
  if (!is_utf8_codeset(nl_langinfo(CODESET))) {
    for (const char* fallback : {"C.UTF-8", "C.utf8", "en_US.UTF-8"}) {
      if (std::setlocale(LC_CTYPE, fallback) != nullptr) break;
    }
  }
  std::setlocale(LC_NUMERIC, "C");
  const char* ctype = std::setlocale(LC_CTYPE, nullptr);
  return ctype == nullptr ? std::string() : std::string(ctype);
}

}  // namespace qim::cli
