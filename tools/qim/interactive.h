#pragma once
// The interactive loop (stdin and stdout are a terminal): libedit line editing with Tab
// completion and a history kept across runs; events printed above the prompt without
// corrupting the line being typed; the prompt kept current (user, node, reconnection).
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "output.h"
#include "shell.h"

namespace qim::cli {

class Interactive {
 public:
  Interactive(Shell& shell, Printer& printer, std::filesystem::path history_file);
  ~Interactive();
  Interactive(const Interactive&) = delete;
  Interactive& operator=(const Interactive&) = delete;

  // Runs until :q or Ctrl-D. Returns the exit status.
  int run();

  // Reads a secret from the terminal with echo off (for Shell's read_secret); nullopt at end
  // of input.
  static std::optional<std::string> read_secret(std::string_view prompt);
  // The terminal's width in columns (0 when stdout is not a terminal).
  static std::size_t terminal_columns();

 private:
  static void on_line_thunk(char* line);
  static char** complete_thunk(const char* text, int start, int end);
  static char* no_filename_completion(const char*, int);

  void on_line(char* line);
  void on_event_line(std::string line);
  // Prints queued event lines above the prompt and redraws the prompt and the edited line.
  void print_pending();
  // Redraws when the prompt's text changed (reconnection progress, a lost session).
  void refresh_prompt();
  void remember(const std::string& line);

  Shell& shell_;
  Printer& printer_;
  std::filesystem::path history_file_;
  int wake_pipe_[2] = {-1, -1};
  bool done_ = false;
  std::string prompt_;
  std::mutex mutex_;
  bool editing_ = false;              // GUARDED_BY(mutex_): the prompt is on the screen
  std::vector<std::string> pending_;  // GUARDED_BY(mutex_)
  std::optional<std::string> saved_termios_;
};

}  // namespace qim::cli
