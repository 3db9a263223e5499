#pragma once
// Levelled, structured-enough logs: one line per event, "ts level component: message".
// A Logger is created by main and passed by reference; there is no global logger.
#include <cstdio>
#include <mutex>
#include <string_view>

#include <fmt/core.h>

namespace qim::core {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

// Parses "debug|info|warn|error|off"; returns false on anything else.
bool parse_log_level(std::string_view text, LogLevel& level);

class Logger {
 public:
  explicit Logger(LogLevel level = LogLevel::info, std::FILE* sink = stderr)
      : level_(level), sink_(sink) {}

  bool enabled(LogLevel level) const { return level >= level_; }

  template <typename... Args>
  void log(LogLevel level, std::string_view component, fmt::format_string<Args...> format,
           Args&&... args) {
    if (!enabled(level)) return;
    write(level, component, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void debug(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::debug, c, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void info(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::info, c, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void warn(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::warn, c, f, std::forward<Args>(a)...);
  }
  template <typename... Args>
  void error(std::string_view c, fmt::format_string<Args...> f, Args&&... a) {
    log(LogLevel::error, c, f, std::forward<Args>(a)...);
  }

 private:
  void write(LogLevel level, std::string_view component, std::string_view message);

  LogLevel level_;
  std::FILE* sink_;
  std::mutex mutex_;  // keeps lines whole across threads
};

}  // namespace qim::core
