// qim: the terminal client.
//
// Interactive (stdin is a terminal): a screen for people (tools/qim/interactive.h,
// human_format.h).
// Script mode (stdin is not a terminal): one command per line, run in order, each waiting for
// its answer; one greppable line per result and per event (or JSON with --json). Exit status:
// 0 when every command succeeded, 1 when any failed, 2 on bad flags.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "device.h"
#include "interactive.h"
#include "line_history.h"
#include "locale_setup.h"
#include "qim/ids.h"
#include "shell.h"

namespace {

using qim::cli::OutputFormat;
using qim::cli::Printer;
using qim::cli::Shell;

bool parse_server(const std::string& text, std::string& host, std::uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned value = 0;
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [stop, error] = std::from_chars(begin, end, value);
  if (error != std::errc() || stop != end || value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

int run_script(Shell& shell) {
  std::string line;
  while (!shell.quit_requested() && std::getline(std::cin, line))
    shell.execute(line);
  return shell.failures() == 0 ? 0 : 1;
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  // Before libedit reads a key: it decodes input with the locale's character set.
  qim::cli::setup_locale();
  CLI::App app{"qim: terminal client for the qim IM server"};
  std::string server = "127.0.0.1:7700";
  std::string user, password, token, device;
  bool json = false, no_reconnect = false, show_token = false;
  bool tls = false, insecure_skip_verify = false;
  bool pin = false;
  std::string ca_file, pin_file, certificate_file, key_file;
  std::uint32_t timeout_ms = 10'000;
  app.add_option("--server", server, "server address host:port")->capture_default_str();
  app.add_option("--user", user, "log in as this user at start");
  app.add_option("--password", password,
                 "password for --user (visible to other users of this machine: prefer "
                 "QIM_PASSWORD or the prompt)");
  app.add_option("--token", token, "session token for --user (instead of --password)");
  app.add_option("--device", device,
                 "device id (default: one per install in ~/.config/qim/device, another for "
                 "script mode in ~/.config/qim/script-device)");
  app.add_flag("--json", json, "script mode: print JSON objects instead of key=value lines");
  app.add_flag("--show-token", show_token, "interactive: show the session token after login");
  app.add_flag("--no-reconnect", no_reconnect, "do not reconnect when the connection drops");
  app.add_flag("--tls", tls,
               "speak TLS 1.3, verifying the server's certificate against the system's trust "
               "store (or --ca)");
  app.add_option("--ca", ca_file, "trust this PEM CA certificate (implies --tls)")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure-skip-verify", insecure_skip_verify,
               "TLS without checking the server's certificate: for tests only (implies --tls)");
  app.add_flag("--pin", pin,
               "trust on first use (implies --tls): keep each server's key in "
               "~/.config/qim/known_servers the first time, refuse the connection if it changes");
  app.add_option("--pin-file", pin_file, "--pin, keeping the keys in this file");
  app.add_option("--cert", certificate_file,
                 "present this PEM client certificate (implies --tls; with --key)")
      ->check(CLI::ExistingFile);
  app.add_option("--key", key_file, "the PEM private key of --cert")->check(CLI::ExistingFile);
  app.add_option("--timeout-ms", timeout_ms, "request timeout and default wait timeout")
      ->capture_default_str()
      ->check(CLI::Range(1u, 3'600'000u));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : 2;
  }

  qim::cli::ShellOptions options;
  if (!parse_server(server, options.host, options.port)) {
    std::fprintf(stderr, "qim: --server must be host:port, got '%s'\n", server.c_str());
    return 2;
  }
  bool interactive = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO) && !json;
  const char* home = std::getenv("HOME");
  // Held while qim runs, so a second interactive qim takes another device id.
  qim::cli::DeviceSlot slot(home == nullptr ? std::string() : std::string(home), host_name(),
                            interactive);
  if (device.empty()) device = slot.id();
  if (!qim::is_valid_device(device)) {
    std::fprintf(stderr, "qim: --device '%s' is not a valid device id\n", device.c_str());
    return 2;
  }
  if (!password.empty() && !token.empty()) {
    std::fprintf(stderr, "qim: give --password or --token, not both\n");
    return 2;
  }
  if (const char* env_password = std::getenv("QIM_PASSWORD")) options.env_password = env_password;
  options.device = device;
  options.timeout = std::chrono::milliseconds(timeout_ms);
  options.auto_reconnect = !no_reconnect;
  if (interactive) options.read_secret = &qim::cli::Interactive::read_secret;
  if (pin_file.empty() && pin) {
    if (home == nullptr) {
      std::fprintf(stderr, "qim: --pin keeps keys under $HOME, which is not set: use --pin-file\n");
      return 2;
    }
    pin_file = std::string(home) + "/.config/qim/known_servers";
  }
  if (!pin_file.empty() && (!ca_file.empty() || insecure_skip_verify)) {
    std::fprintf(stderr,
                 "qim: --pin trusts keys on first use instead of a CA: give --pin or "
                 "--ca/--insecure-skip-verify, not both\n");
    return 2;
  }
  if (certificate_file.empty() != key_file.empty()) {
    std::fprintf(stderr, "qim: --cert and --key go together\n");
    return 2;
  }
  options.tls.enabled = tls || !ca_file.empty() || insecure_skip_verify || !pin_file.empty() ||
                        !certificate_file.empty();
  options.tls.ca_file = ca_file;
  options.tls.verify = !insecure_skip_verify;
  options.tls.pin_file = pin_file;
  options.tls.certificate_file = certificate_file;
  options.tls.key_file = key_file;
  options.tls.on_pinned = [pin_file](const std::string& address, const std::string& fingerprint) {
    std::fprintf(stderr,
                 "qim: first connection to %s: trusting its key %s from now on (kept in %s; a "
                 "different key will be refused)\n",
                 address.c_str(), fingerprint.c_str(), pin_file.c_str());
  };

  Printer printer(json ? OutputFormat::json
                       : (interactive ? OutputFormat::human : OutputFormat::text));
  printer.set_show_token(show_token);
  if (interactive) printer.set_width_source(&qim::cli::Interactive::terminal_columns);
  Shell shell(options, printer);
  shell.connect();
  if (!interactive) {
    if (!user.empty()) shell.login(user, password, token, device);
    return run_script(shell);
  }
  std::printf("qim: connected to %s — help lists the commands, Tab completes, Ctrl-D leaves\n",
              server.c_str());
  std::fflush(stdout);
  if (!user.empty()) {
    if (password.empty() && token.empty()) password = options.env_password;
    if (password.empty() && token.empty()) {
      password = qim::cli::Interactive::read_secret("password for " + user + ": ").value_or("");
    }
    shell.login(user, password, token, device);
  }
  qim::cli::Interactive loop(shell, printer,
                             qim::cli::history_path(std::getenv("XDG_STATE_HOME"), home));
  return loop.run();
}
