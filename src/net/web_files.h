#pragma once
// The browser client's static files, served on the WebSocket port from --web-root: request
// paths normalised (no way out of the root), a fixed table of content types, bounded sizes.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace qim::net {

// Files larger than this are not served (the response is queued whole).
inline constexpr std::size_t web_max_file_bytes = 4 * 1024 * 1024;

// The relative file path a request target names: query dropped, %XX decoded, empty and "."
// segments skipped, "" and a trailing "/" mean index.html. False for anything that could leave
// the root or name something not meant to be served: "..", a backslash, an encoded '/', NUL or
// control character, a bad %-escape, a segment starting with '.'.
bool normalise_web_path(std::string_view target, std::string& path);

// The content type for a file name's extension, or nullopt when such files are not served.
std::optional<std::string_view> web_content_type(std::string_view path);

// The whole HTTP response for `path` (normalised) under `root`: 200 with the file, or 404
// (missing, not a regular file, outside the root through a link, a type not served), or 500.
// Reads the file: run it off the I/O thread.
std::string web_file_response(const std::string& root, const std::string& path, bool head_only);

}  // namespace qim::net
