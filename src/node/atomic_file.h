#pragma once
// Small files that readers must never see half-written (the port file, the restart epoch):
// written to "<path>.tmp", then renamed over `path`.
#include <string>
#include <string_view>

namespace qim::node {

// False with `error` set when the file cannot be written or renamed.
bool write_file_atomically(const std::string& path, std::string_view text, std::string& error);

}  // namespace qim::node
