#include "net/web_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <utility>

#include "net/ws_handshake.h"

namespace qim::net {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

struct ContentType {
  std::string_view extension;
  std::string_view type;
};

constexpr std::array<ContentType, 11> content_types{{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".wasm", "application/wasm"},
    {".txt", "text/plain; charset=utf-8"},
}};

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string real_path(const std::string& path) {
  std::unique_ptr<char, decltype(&std::free)> resolved(::realpath(path.c_str(), nullptr),
                                                       &std::free);
  return resolved ? std::string(resolved.get()) : std::string();
}

}  // namespace

bool normalise_web_path(std::string_view target, std::string& path) {
  path.clear();
  target = target.substr(0, target.find('?'));
  target = target.substr(0, target.find('#'));
  if (target.empty() || target.front() != '/') return false;
  std::string segment;
  bool directory = true;  // the path ends in '/' (or is "/")
  auto end_segment = [&]() -> bool {
    if (segment.empty() || segment == ".") return true;
    if (segment.front() == '.') return false;  // "..", and hidden files such as .git
    if (!path.empty()) path.push_back('/');
    path += segment;
    segment.clear();
    return true;
  };
  for (std::size_t index = 1; index < target.size(); ++index) {
    char c = target[index];
    if (c == '/') {
      if (!end_segment()) return false;
      segment.clear();
      directory = true;
      continue;
    }
    directory = false;
    if (c == '%') {
      if (index + 2 >= target.size()) return false;
      int high = hex_value(target[index + 1]);
      int low = hex_value(target[index + 2]);
      if (high < 0 || low < 0) return false;
      c = static_cast<char>(high * 16 + low);
      index += 2;
      // A decoded separator or control character never names a file here.
      if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7F) return false;
    } else if (c == '\\') {
      return false;
    }
    segment.push_back(c);
  }
  if (segment == ".") directory = true;  // "/a/." names the directory, as "/a/" does
  if (!end_segment()) return false;
  if (directory) path += path.empty() ? "index.html" : "/index.html";
  return true;
}

std::optional<std::string_view> web_content_type(std::string_view path) {
  std::size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string_view extension = name.substr(dot);
  for (const ContentType& entry : content_types) {
    if (entry.extension.size() == extension.size() && http_iequals(entry.extension, extension)) {
      return entry.type;
    }
  }
  return std::nullopt;
}

std::string web_file_response(const std::string& root, const std::string& path, bool head_only) {
  auto type = web_content_type(path);
  if (!type) return http_error(404, "not found");
  std::string root_real = real_path(root);
  std::string file_real = real_path(root + "/" + path);
  // A link inside the root that leads out of it is not followed.
  if (root_real.empty() || file_real.empty() || file_real.size() <= root_real.size() ||
      file_real.compare(0, root_real.size(), root_real) != 0 ||
      file_real[root_real.size()] != '/') {
    return http_error(404, "not found");
  }
  Fd fd(::open(file_real.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  struct stat status {};
  if (fd.get() < 0 || ::fstat(fd.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
    return http_error(404, "not found");
  }
  if (static_cast<std::size_t>(status.st_size) > web_max_file_bytes) {
    return http_error(500, "file too large to serve");
  }
  std::string body(static_cast<std::size_t>(status.st_size), '\0');
  std::size_t filled = 0;
  while (filled < body.size()) {
    ssize_t count = ::read(fd.get(), body.data() + filled, body.size() - filled);
    if (count < 0 && errno == EINTR) continue;
    if (count <= 0) return http_error(500, "cannot read file");
    filled += static_cast<std::size_t>(count);
  }
  // Pages are revalidated so a new client version shows at once; assets may be kept briefly.
  bool page = type->starts_with("text/html");
  std::string_view cache = page ? "Cache-Control: no-cache\r\n" : "Cache-Control: max-age=300\r\n";
  return http_response(200, cache, body, *type, head_only);
}

}  // namespace qim::net
