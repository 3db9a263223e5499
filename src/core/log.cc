#include "core/log.h"

#include <chrono>
#include <ctime>

namespace qim::core {

bool parse_log_level(std::string_view text, LogLevel& level) {
  if (text == "debug")
    level = LogLevel::debug;
  else if (text == "info")
    level = LogLevel::info;
  else if (text == "warn")
    level = LogLevel::warn;
  else if (text == "error")
    level = LogLevel::error;
  else if (text == "off")
    level = LogLevel::off;
  else
    return false;
  return true;
}

void Logger::write(LogLevel level, std::string_view component, std::string_view message) {
  static constexpr const char* names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::lock_guard lock(mutex_);
  fmt::print(sink_, "{}.{:03}Z {} {}: {}\n", stamp, ms % 1000, names[static_cast<int>(level)],
             component, message);
  std::fflush(sink_);
}

}  // namespace qim::core
