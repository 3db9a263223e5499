#include "device.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include <fmt/core.h>

#include "qim/ids.h"

namespace qim::cli {
namespace {

// Interactive instances running at once on one install, each with its own id.
constexpr unsigned max_slots = 16;

// The stored id, or a new one written there; empty when the file cannot be written.
std::string load_or_create(const std::filesystem::path& path, const std::string& prefix) {
  {
    std::ifstream in(path);
    std::string stored;
    if (in && std::getline(in, stored) && is_valid_device(stored)) return stored;
  }
  std::random_device random;
  std::string device = sanitise_device(fmt::format("{}-{:08x}", prefix.substr(0, 50), random()));
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  if (out) out << device << '\n';
  return out ? device : std::string();
}

}  // namespace

std::string sanitise_device(std::string text) {
  std::string out;
  for (char c : text) {
    if (c > ' ' && c <= '~' && c != ':') out += c;
  }
  if (out.size() > max_device_length) out.resize(max_device_length);
  return out;
}

std::filesystem::path device_file(const std::filesystem::path& config_dir, bool interactive,
                                  unsigned slot) {
  if (!interactive) return config_dir / "script-device";
  return config_dir / (slot <= 1 ? std::string("device") : fmt::format("device-{}", slot));
}

DeviceSlot::DeviceSlot(const std::string& home, const std::string& host_name, bool interactive) {
  std::string prefix = sanitise_device((interactive ? "cli-" : "script-") + host_name);
  if (home.empty()) {
    id_ = prefix;
    return;
  }
  std::filesystem::path config = std::filesystem::path(home) / ".config" / "qim";
  std::error_code ec;
  std::filesystem::create_directories(config, ec);
  if (!interactive) {
    id_ = load_or_create(device_file(config, false, 1), prefix);
    if (id_.empty()) id_ = prefix;
    return;
  }
  for (unsigned slot = 1; slot <= max_slots; ++slot) {
    std::filesystem::path path = device_file(config, true, slot);
    int fd = ::open((path.string() + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) break;  // nowhere to lock: the first slot, unguarded
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);  // another qim runs with this slot
      continue;
    }
    lock_fd_ = fd;
    id_ = load_or_create(path, prefix);
    break;
  }
  if (id_.empty()) id_ = load_or_create(device_file(config, true, 1), prefix);
  if (id_.empty()) id_ = prefix;
}

DeviceSlot::~DeviceSlot() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace qim::cli
