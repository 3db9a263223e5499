#pragma once
// qimd's configuration: command-line flags and the same keys in a config file (CLI11), mapped
// onto the service's and the I/O shell's options and validated.
#include <cstddef>
#include <optional>
#include <string>

#include "core/log.h"
#include "net/client_listener.h"
#include "net/endpoint.h"
#include "service/options.h"

namespace qim::node {

// Exit codes of qimd.
inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;  // could not start (store, socket, port file)
inline constexpr int exit_usage = 2;    // a bad flag, value or config file

struct Config {
  net::HostPort listen{"127.0.0.1", 7700};
  std::string data_directory = "./qim-data";
  std::size_t io_threads = 1;
  std::size_t blocking_threads = 2;
  core::LogLevel log_level = core::LogLevel::info;
  std::string port_file;  // empty: none
  service::Options service;
  net::ListenerOptions listener;
};

struct ParseResult {
  std::optional<Config> config;  // set: run with it
  int exit_code = exit_ok;       // otherwise: exit with this (help printed, or an error)
};

// Parses argv (and the file named by --config). Prints --help, and every error with what was
// wrong, itself. Never throws.
ParseResult parse_command_line(int argc, char** argv);

}  // namespace qim::node
