#pragma once
// The qim command interpreter: parses one line, runs it against a Client, prints the result;
// an event thread prints pushes and keeps them for `wait`. Used by both the interactive
// (libedit) loop and script mode. Its commands live in files by concern: shell.cc (lines,
// session), shell_messages.cc, shell_social.cc (friends, groups), shell_conversations.cc
// (conversation mode, convs, whoami), shell_events.cc (events and `wait`).
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
#include "shell_parse.h"

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
  // "alice@n1> ", "alice@n1 → bob> " in a conversation, or the reconnection's progress.
  std::string prompt() const;
  // The current conversation's id ("" when none).
  std::string current_conversation() const;
  // Friend and group names for Tab completion (asked of the server at most every few seconds).
  CompletionNames completion_names();
  std::uint64_t failures() const { return failures_; }
  Client& client() { return client_; }

 private:
  using Args = std::vector<Token>;
  // A command line (already known not to be text for a conversation).
  bool run_line(std::string_view line);
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

  bool cmd_enter(const std::string& name);
  bool cmd_leave();
  bool cmd_say(std::string_view text);
  bool cmd_convs(const Args& args);
  bool cmd_whoami(const Args& args);
  bool cmd_clear(const Args& args);
  // The interactive screen acks what it shows (script mode acks every event: auto_ack). A
  // failed ack only leaves the messages unread, so it is not reported.
  void mark_read(const std::string& conversation, std::uint64_t seq);
  bool human() const { return printer_.format() == OutputFormat::human; }

  void event_loop(const std::stop_token& stop);
  Record describe(const Event& event) const;

  ShellOptions options_;
  Printer& printer_;
  Client client_;
  bool quit_requested_ = false;
  std::uint64_t failures_ = 0;
  std::string device_;  // the device of the last login

  // The conversation plain lines go to; read by the event thread.
  mutable std::mutex current_mutex_;
  std::string current_;  // GUARDED_BY(current_mutex_): a conversation id, "" for none

  // Events already printed, kept for `wait` (bounded; the oldest go first).
  std::mutex seen_mutex_;
  std::condition_variable seen_changed_;
  std::deque<Record> seen_events_;  // GUARDED_BY(seen_mutex_)

  CompletionNames names_;  // completion_names()'s cache (main thread only)
  std::chrono::steady_clock::time_point names_fetched_{};

  std::jthread event_thread_;  // last: stops first
};

}  // namespace qim::cli
