#pragma once
// The qim command interpreter: parses one line, runs it against a Client, prints the result;
// an event thread prints pushes and keeps them for `wait`. Used by both the interactive
// (libedit) loop and script mode.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "completion.h"
#include "output.h"
#include "qim/client.h"

namespace qim::cli {

struct ShellOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7700;
  std::string device;
  std::chrono::milliseconds timeout{10'000};
  bool auto_reconnect = true;
  // Interactive mode: asks for a password with echo off (nullopt: the person gave up). Without
  // it (script mode) a password must be on the line or in QIM_PASSWORD.
  std::function<std::optional<std::string>(std::string_view prompt)> read_secret;
  // QIM_PASSWORD: used by `login` and --user when no password is given.
  std::string env_password;
  TlsOptions tls;
};

// A word of a command line and where it starts in the raw line (so `-m` can take the rest).
struct Token {
  std::string text;
  std::size_t offset = 0;
};

// Splits on blanks; "double" and 'single' quotes group words. Returns false (with `error`) on
// an unterminated quote.
bool tokenize(std::string_view line, std::vector<Token>& tokens, std::string& error);

class Shell {
 public:
  Shell(ShellOptions options, Printer& printer);
  ~Shell();
  Shell(const Shell&) = delete;
  Shell& operator=(const Shell&) = delete;

  // Connects to the server (also retried by register and login).
  bool connect();
  // Runs one command line; returns false when it failed. Blank lines and # comments succeed.
  bool execute(std::string_view line);
  // Logs in with a password or (when password is empty) a token; then shows the backlog.
  bool login(const std::string& user, const std::string& password, const std::string& token,
             const std::string& device);
  bool quit_requested() const { return quit_requested_; }
  std::string prompt() const;
  // Friend and group names for Tab completion (asked of the server at most every few seconds).
  CompletionNames completion_names();
  std::uint64_t failures() const { return failures_; }
  Client& client() { return client_; }

 private:
  using Args = std::vector<Token>;
  bool run(std::string_view name, const Args& args, std::string_view line);
  bool fail(std::string_view command, std::string_view code, std::string_view message);
  bool fail(std::string_view command, const Error& error);
  bool usage(std::string_view command);

  bool cmd_register(const Args& args);
  bool cmd_login(const Args& args);
  bool cmd_send(const Args& args, std::string_view line);
  bool cmd_quick_send(std::string_view line, std::size_t separator);
  bool cmd_history(const Args& args);
  bool cmd_wait(const Args& args);
  bool cmd_group(std::string_view name, const Args& args);
  bool cmd_friend(std::string_view name, const Args& args);
  bool print_help(const Args& args);
  bool cmd_passwd(const Args& args);
  bool report_send(const Result<SendAck>& ack, std::string_view text);

  void event_loop(const std::stop_token& stop);
  Record describe(const Event& event) const;

  ShellOptions options_;
  Printer& printer_;
  Client client_;
  bool quit_requested_ = false;
  std::uint64_t failures_ = 0;

  // Events already printed, kept for `wait` (bounded; the oldest go first).
  std::mutex seen_mutex_;
  std::condition_variable seen_changed_;
  std::deque<Record> seen_events_;  // GUARDED_BY(seen_mutex_)

  CompletionNames names_;  // completion_names()'s cache (main thread only)
  std::chrono::steady_clock::time_point names_fetched_{};

  std::jthread event_thread_;  // last: stops first
};

}  // namespace qim::cli
