#include "interactive.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <editline/readline.h>

#include "completion.h"
#include "line_history.h"

namespace qim::cli {
namespace {

constexpr std::size_t max_pending_lines = 10'000;
constexpr int history_lines = 1000;

// libedit's callbacks take plain functions; this routes them to the one live loop.
Interactive* current = nullptr;
// Candidates of the completion in progress (libedit asks for them one by one).
std::vector<std::string>* completion_candidates = nullptr;

char* completion_generator(const char*, int state) {
  static std::size_t next = 0;
  if (state == 0) next = 0;
  if (completion_candidates == nullptr || next >= completion_candidates->size()) return nullptr;
  return ::strdup((*completion_candidates)[next++].c_str());
}

void quiet_control_echo() {
  termios state{};
  if (::tcgetattr(STDIN_FILENO, &state) != 0 || (state.c_lflag & ECHOCTL) == 0) return;
  state.c_lflag &= ~static_cast<tcflag_t>(ECHOCTL);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &state);
}

void write_all(std::string_view text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

Interactive::Interactive(Shell& shell, Printer& printer, std::filesystem::path history_file)
    : shell_(shell), printer_(printer), history_file_(std::move(history_file)) {
  // Ctrl-D at an empty line ends qim; the terminal must not echo it as "^D" first.
  termios state{};
  if (::tcgetattr(STDIN_FILENO, &state) == 0) {
    saved_termios_ = std::string(reinterpret_cast<const char*>(&state), sizeof(state));
    state.c_lflag &= ~static_cast<tcflag_t>(ECHOCTL);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &state);
  }
}

Interactive::~Interactive() {
  if (saved_termios_) {
    termios state{};
    std::memcpy(&state, saved_termios_->data(), sizeof(state));
    ::tcsetattr(STDIN_FILENO, TCSANOW, &state);
  }
}

std::optional<std::string> Interactive::read_secret(std::string_view prompt) {
  // Echo goes off before the prompt shows: a password typed (or pasted) as soon as the
  // prompt appears must not be echoed.
  termios before{};
  bool restore = ::tcgetattr(STDIN_FILENO, &before) == 0;
  if (restore) {
    termios quiet = before;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ICANON;
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  write_all(prompt);
  std::string secret;
  bool ended = false;
  while (true) {
    char c = 0;
    ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ended = true;
      break;
    }
    if (c == '\n' || c == '\r') break;
    secret += c;
  }
  if (restore) ::tcsetattr(STDIN_FILENO, TCSANOW, &before);
  write_all("\n");
  if (ended && secret.empty()) return std::nullopt;
  return secret;
}

std::size_t Interactive::terminal_columns() {
  winsize size{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0) return 0;
  return size.ws_col;
}

int Interactive::run() {
  if (::pipe(wake_pipe_) != 0) return 1;
  printer_.set_event_sink([this](std::string line) { on_event_line(std::move(line)); });
  current = this;
  if (!history_file_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(history_file_.parent_path(), ec);
    stifle_history(history_lines);
    read_history(history_file_.c_str());
  }
  rl_attempted_completion_function = &Interactive::complete_thunk;
  rl_completion_entry_function = &Interactive::no_filename_completion;
  rl_basic_word_break_characters = const_cast<char*>(" \t");
  prompt_ = shell_.prompt();
  {
    std::lock_guard lock(mutex_);
    editing_ = true;
  }
  rl_callback_handler_install(prompt_.c_str(), &Interactive::on_line_thunk);
  while (!done_) {
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    // Wakes each second too, so the prompt follows a reconnection's progress.
    int ready = ::poll(fds, 2, 1000);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents & POLLIN) {
      char drain[64];
      [[maybe_unused]] auto read = ::read(wake_pipe_[0], drain, sizeof(drain));
      print_pending();
    }
    if (fds[0].revents & (POLLIN | POLLHUP)) rl_callback_read_char();
    if (!done_) refresh_prompt();
  }
  rl_callback_handler_remove();
  {
    std::lock_guard lock(mutex_);
    editing_ = false;
  }
  printer_.set_event_sink(nullptr);
  print_pending();
  current = nullptr;
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  return 0;
}

void Interactive::on_line_thunk(char* line) {
  current->on_line(line);
}

char* Interactive::no_filename_completion(const char*, int) {
  return nullptr;
}

char** Interactive::complete_thunk(const char*, int, int end) {
  rl_attempted_completion_over = 1;  // never fall back to file names
  std::string before(rl_line_buffer, static_cast<std::size_t>(std::max(end, 0)));
  std::vector<std::string> candidates = complete(before, current->shell_.completion_names(),
                                                 !current->shell_.current_conversation().empty());
  if (candidates.empty()) return nullptr;
  std::size_t start = before.find_last_of(" \t");
  std::string word = before.substr(start == std::string::npos ? 0 : start + 1);
  completion_candidates = &candidates;
  char** matches = rl_completion_matches(word.c_str(), &completion_generator);
  completion_candidates = nullptr;
  return matches;
}

void Interactive::on_event_line(std::string line) {
  {
    std::lock_guard lock(mutex_);
    if (!editing_) {
      // A command is running: nothing is being typed, the line goes straight out.
      write_all(line + "\n");
      return;
    }
    if (pending_.size() < max_pending_lines) pending_.push_back(std::move(line));
  }
  char byte = 1;
  // A full pipe already means "wake up"; losing this byte is harmless.
  [[maybe_unused]] auto written = ::write(wake_pipe_[1], &byte, 1);
}

void Interactive::remember(const std::string& line) {
  auto entry = history_entry(line);
  if (!entry) return;
  add_history(entry->c_str());
  if (!history_file_.empty()) write_history(history_file_.c_str());
}

void Interactive::on_line(char* line) {
  if (line == nullptr) {  // end of input (Ctrl-D)
    // libedit writes the Ctrl-D it took as end of input ("^D"); the line is cleared so the
    // screen ends on the last prompt.
    write_all("\r\033[2K\n");
    done_ = true;
    return;
  }
  std::string command(line);
  std::free(line);
  // The prompt is gone from now until it is drawn again: events print as they come.
  rl_callback_handler_remove();
  // libedit's cooked mode, back while the command runs, turns ECHOCTL on again: a Ctrl-D
  // typed ahead would show as "^D".
  quiet_control_echo();
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mutex_);
    editing_ = false;
    lines.swap(pending_);
  }
  for (const auto& event : lines)
    write_all(event + "\n");
  remember(command);
  shell_.execute(command);
  if (shell_.quit_requested()) {
    done_ = true;
    return;
  }
  {
    std::lock_guard lock(mutex_);
    editing_ = true;
  }
  print_pending();
  // Installing draws the prompt now, with the session as it is after the command.
  prompt_ = shell_.prompt();
  rl_callback_handler_install(prompt_.c_str(), &Interactive::on_line_thunk);
}

void Interactive::print_pending() {
  std::vector<std::string> lines;
  {
    std::lock_guard lock(mutex_);
    lines.swap(pending_);
  }
  if (lines.empty()) return;
  std::string saved(rl_line_buffer ? rl_line_buffer : "", static_cast<std::size_t>(rl_end));
  int point = rl_point;
  // Erase the prompt and the partial line, print above, then redraw both.
  std::string out = "\r\033[K";
  for (const auto& line : lines)
    out += line + "\n";
  write_all(out);
  prompt_ = shell_.prompt();
  rl_set_prompt(prompt_.c_str());
  rl_replace_line(saved.c_str(), 0);
  rl_point = std::min(point, rl_end);
  rl_forced_update_display();
}

void Interactive::refresh_prompt() {
  std::string prompt = shell_.prompt();
  if (prompt == prompt_) return;
  prompt_ = std::move(prompt);
  std::string saved(rl_line_buffer ? rl_line_buffer : "", static_cast<std::size_t>(rl_end));
  int point = rl_point;
  write_all("\r\033[K");
  rl_set_prompt(prompt_.c_str());
  rl_replace_line(saved.c_str(), 0);
  rl_point = std::min(point, rl_end);
  rl_forced_update_display();
}

}  // namespace qim::cli
