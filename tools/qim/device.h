#pragma once
// Which device id qim logs in with. The server keeps one session per (user, device): a second
// login of the same device replaces the first. So a person's terminals and scripts must not
// share one id by accident:
//   - interactive: ~/.config/qim/device, persisted per install; a second qim running at the
//     same time takes the next free slot (device-2, ...), held by a lock while it runs;
//   - script mode: ~/.config/qim/script-device, a separate stable id, so a script never
//     replaces the person's session (two scripts at once still need --device).
#include <filesystem>
#include <string>

namespace qim::cli {

// Keeps the characters a device id allows, cut to its maximum length.
std::string sanitise_device(std::string text);

// The file holding the id of `slot` (1, 2, ...) in `config_dir`: "device", "device-2", ...; and
// "script-device" for script mode.
std::filesystem::path device_file(const std::filesystem::path& config_dir, bool interactive,
                                  unsigned slot);

// A device id for this process. Holds the slot's lock until destruction.
class DeviceSlot {
 public:
  // `home` empty: no place to keep anything; a host-derived id is used.
  DeviceSlot(const std::string& home, const std::string& host_name, bool interactive);
  ~DeviceSlot();
  DeviceSlot(const DeviceSlot&) = delete;
  DeviceSlot& operator=(const DeviceSlot&) = delete;

  const std::string& id() const { return id_; }

 private:
  std::string id_;
  int lock_fd_ = -1;
};

}  // namespace qim::cli
