// qim: the terminal client.
//
// Interactive (stdin is a terminal): libedit line editing and history; pushes are printed
// above the prompt without disturbing the line being typed.
// Script mode (stdin is not a terminal): one command per line, run in order, each waiting for
// its answer; one greppable line per result and per event (or JSON with --json). Exit status:
// 0 when every command succeeded, 1 when any failed, 2 on bad flags.
#include <poll.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include <editline/readline.h>
#include <fmt/core.h>
#include <CLI/CLI.hpp>

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

// Keeps the characters a device id allows.
std::string sanitise_device(std::string text) {
  std::string out;
  for (char c : text) {
    if (c > ' ' && c <= '~' && c != ':') out += c;
  }
  if (out.size() > qim::max_device_length) out.resize(qim::max_device_length);
  return out;
}

// A stable device id: persisted under $HOME/.config/qim/device, else "cli-<hostname>".
std::string default_device() {
  char host_name[256] = {};
  if (gethostname(host_name, sizeof(host_name) - 1) != 0) std::snprintf(host_name, 8, "unknown");
  std::string fallback = sanitise_device(std::string("cli-") + host_name);
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return fallback;
  std::filesystem::path path = std::filesystem::path(home) / ".config" / "qim" / "device";
  std::error_code ec;
  {
    std::ifstream in(path);
    std::string stored;
    if (in && std::getline(in, stored) && qim::is_valid_device(stored)) return stored;
  }
  std::random_device random;
  std::string device = sanitise_device(fmt::format("{}-{:08x}", fallback.substr(0, 50), random()));
  std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream out(path);
  if (out) out << device << '\n';
  return out ? device : fallback;
}

int run_script(Shell& shell) {
  std::string line;
  while (!shell.quit_requested() && std::getline(std::cin, line))
    shell.execute(line);
  return shell.failures() == 0 ? 0 : 1;
}

// Interactive loop. libedit's callback interface lets the main thread wait on both stdin and
// a pipe the event thread writes to, so pushes are printed here, between keystrokes: clear
// the edited line, print, then redraw the prompt and the line as it was.
class Interactive {
 public:
  Interactive(Shell& shell, Printer& printer) : shell_(shell), printer_(printer) {}

  int run() {
    if (::pipe(wake_pipe_) != 0) return 1;
    printer_.set_event_sink([this](std::string line) {
      {
        std::lock_guard lock(mutex_);
        if (pending_.size() < max_pending_lines) pending_.push_back(std::move(line));
      }
      char byte = 1;
      // A full pipe already means "wake up"; losing this byte is harmless.
      [[maybe_unused]] auto written = ::write(wake_pipe_[1], &byte, 1);
    });
    current_ = this;
    prompt_ = shell_.prompt();
    rl_callback_handler_install(prompt_.c_str(), &Interactive::on_line_thunk);
    while (!done_) {
      pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents & POLLIN) {
        char drain[64];
        [[maybe_unused]] auto read = ::read(wake_pipe_[0], drain, sizeof(drain));
        print_pending();
      }
      if (fds[0].revents & (POLLIN | POLLHUP)) rl_callback_read_char();
    }
    rl_callback_handler_remove();
    printer_.set_event_sink(nullptr);
    print_pending();
    current_ = nullptr;
    ::close(wake_pipe_[0]);
    ::close(wake_pipe_[1]);
    return 0;
  }

 private:
  static constexpr std::size_t max_pending_lines = 10'000;

  static void on_line_thunk(char* line) { current_->on_line(line); }

  void on_line(char* line) {
    if (line == nullptr) {  // end of input (Ctrl-D)
      std::fputc('\n', stdout);
      done_ = true;
      return;
    }
    std::string command(line);
    std::free(line);
    if (command.find_first_not_of(" \t") != std::string::npos) add_history(command.c_str());
    print_pending();
    shell_.execute(command);
    if (shell_.quit_requested()) {
      done_ = true;
      return;
    }
    print_pending();
    // Re-installing draws the prompt now: libedit's callback mode would otherwise draw it
    // only at the next keystroke (after the handler it leaves the editor in buffered mode).
    // The prompt also changes after login ("alice@node-1> ").
    prompt_ = shell_.prompt();
    rl_callback_handler_install(prompt_.c_str(), &Interactive::on_line_thunk);
  }

  void print_pending() {
    std::vector<std::string> lines;
    {
      std::lock_guard lock(mutex_);
      lines.swap(pending_);
    }
    if (lines.empty()) return;
    std::string saved(rl_line_buffer ? rl_line_buffer : "", static_cast<std::size_t>(rl_end));
    int point = rl_point;
    // Erase the prompt and the partial line, print above, then redraw both.
    std::fputs("\r\033[K", stdout);
    for (const auto& line : lines) {
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
    // The session may have changed with these events ("alice (reconnecting)> ").
    prompt_ = shell_.prompt();
    rl_set_prompt(prompt_.c_str());
    rl_replace_line(saved.c_str(), 0);
    rl_point = std::min(point, rl_end);
    rl_forced_update_display();
  }

  // libedit's callback takes a plain function; this routes it to the one live instance.
  static inline Interactive* current_ = nullptr;

  Shell& shell_;
  Printer& printer_;
  int wake_pipe_[2] = {-1, -1};
  bool done_ = false;
  std::string prompt_;
  std::mutex mutex_;
  std::vector<std::string> pending_;  // GUARDED_BY(mutex_)
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"qim: terminal client for the qim IM server"};
  std::string server = "127.0.0.1:7700";
  std::string user, password, token, device;
  bool json = false, no_reconnect = false;
  bool tls = false, insecure_skip_verify = false;
  std::string ca_file;
  std::uint32_t timeout_ms = 10'000;
  app.add_option("--server", server, "server address host:port")->capture_default_str();
  app.add_option("--user", user, "log in as this user at start");
  app.add_option("--password", password, "password for --user");
  app.add_option("--token", token, "session token for --user (instead of --password)");
  app.add_option("--device", device, "device id (default: persisted in ~/.config/qim/device)");
  app.add_flag("--json", json, "script mode: print JSON objects instead of key=value lines");
  app.add_flag("--no-reconnect", no_reconnect, "do not reconnect when the connection drops");
  app.add_flag("--tls", tls,
               "speak TLS 1.3, verifying the server's certificate against the system's trust "
               "store (or --ca)");
  app.add_option("--ca", ca_file, "trust this PEM CA certificate (implies --tls)")
      ->check(CLI::ExistingFile);
  app.add_flag("--insecure-skip-verify", insecure_skip_verify,
               "TLS without checking the server's certificate: for tests only (implies --tls)");
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
  if (device.empty()) device = default_device();
  if (!qim::is_valid_device(device)) {
    std::fprintf(stderr, "qim: --device '%s' is not a valid device id\n", device.c_str());
    return 2;
  }
  if (!password.empty() && !token.empty()) {
    std::fprintf(stderr, "qim: give --password or --token, not both\n");
    return 2;
  }
  options.device = device;
  options.timeout = std::chrono::milliseconds(timeout_ms);
  options.auto_reconnect = !no_reconnect;
  options.tls.enabled = tls || !ca_file.empty() || insecure_skip_verify;
  options.tls.ca_file = ca_file;
  options.tls.verify = !insecure_skip_verify;

  bool interactive = ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO) && !json;
  Printer printer(json ? OutputFormat::json
                       : (interactive ? OutputFormat::human : OutputFormat::text));
  Shell shell(options, printer);
  shell.connect();
  if (!user.empty()) shell.login(user, password, token, device);
  if (!interactive) return run_script(shell);
  std::printf("qim: connected to %s; type help for commands, :q to leave\n", server.c_str());
  Interactive loop(shell, printer);
  loop.run();
  return 0;
}
