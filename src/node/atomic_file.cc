#include "node/atomic_file.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/core.h>

namespace qim::node {

bool write_file_atomically(const std::string& path, std::string_view text, std::string& error) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.flush();
    if (!out) {
      error = fmt::format("cannot write {}", temporary);
      return false;
    }
  }
  std::error_code code;
  std::filesystem::rename(temporary, path, code);
  if (code) {
    error = fmt::format("cannot rename {} to {}: {}", temporary, path, code.message());
    return false;
  }
  return true;
}

}  // namespace qim::node
