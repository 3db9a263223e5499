#pragma once
// A child process on a pseudo-terminal, for testing qim's interactive path as a person uses
// it: keystrokes go in through the terminal's master side and the screen's bytes come back.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qim::e2e {

class PtyProcess {
 public:
  PtyProcess() = default;
  ~PtyProcess();  // SIGKILLs and reaps the child if it is still running
  PtyProcess(const PtyProcess&) = delete;
  PtyProcess& operator=(const PtyProcess&) = delete;

  // Starts argv[0] with its stdin, stdout and stderr on a new terminal (80x24) and exactly the
  // environment `env`. Returns false (with `error`) if it could not start.
  bool start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
             std::string& error);
  // Writes keystrokes as they are (UTF-8 text, "\r" for Enter, "\t" for Tab, "\x04" Ctrl-D).
  bool type(const std::string& keys);
  // Reads until the screen output holds `text` after `from` (a byte offset into output()),
  // or the deadline passes. Returns the offset just past the match.
  std::optional<std::size_t> expect(const std::string& text, std::size_t from = 0,
                                    std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Everything the child wrote to the terminal so far.
  const std::string& output() const { return output_; }
  // Waits for the child to exit (reading its output meanwhile); the exit code, or nullopt.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  // Appends what is readable within `timeout`; false at end of output.
  bool pump(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
};

}  // namespace qim::e2e
