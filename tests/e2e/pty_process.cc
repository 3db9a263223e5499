#include "pty_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace qim::e2e {

PtyProcess::~PtyProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) ::close(master_);
}

bool PtyProcess::start(const std::vector<std::string>& argv,
                       const std::map<std::string, std::string>& env, std::string& error) {
  if (argv.empty()) {
    error = "no program";
    return false;
  }
  // Built before the fork: the child only execs.
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env)
    env_strings.push_back(key + "=" + value);
  std::vector<char*> child_argv, child_env;
  for (const auto& arg : argv)
    child_argv.push_back(const_cast<char*>(arg.c_str()));
  child_argv.push_back(nullptr);
  for (auto& entry : env_strings)
    child_env.push_back(entry.data());
  child_env.push_back(nullptr);

  winsize size{};
  size.ws_row = 24;
  size.ws_col = 80;
  pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
  if (pid_ < 0) {
    error = std::string("forkpty: ") + std::strerror(errno);
    return false;
  }
  if (pid_ == 0) {
    ::execve(child_argv[0], child_argv.data(), child_env.data());
    ::_exit(127);
  }
  ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  return true;
}

bool PtyProcess::type(const std::string& keys) {
  std::size_t done = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (done < keys.size()) {
    ssize_t n = ::write(master_, keys.data() + done, keys.size() - done);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    if (std::chrono::steady_clock::now() > deadline) return false;
    pump(std::chrono::milliseconds(10));  // a full terminal: let the child drain it
  }
  return true;
}

bool PtyProcess::pump(std::chrono::milliseconds timeout) {
  pollfd fd{master_, POLLIN, 0};
  if (::poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return true;
  char buffer[4096];
  ssize_t n = ::read(master_, buffer, sizeof(buffer));
  if (n > 0) {
    output_.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  // EIO: the child closed its side of the terminal (it exited).
  return n < 0 && (errno == EAGAIN || errno == EINTR);
}

std::optional<std::size_t> PtyProcess::expect(const std::string& text, std::size_t from,
                                              std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    std::size_t at = output_.find(text, std::min(from, output_.size()));
    if (at != std::string::npos) return at + text.size();
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    if (!pump(std::min(left, std::chrono::milliseconds(100)))) {
      at = output_.find(text, std::min(from, output_.size()));
      return at == std::string::npos ? std::nullopt : std::optional(at + text.size());
    }
  }
}

std::optional<int> PtyProcess::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pid_ > 0) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      while (pump(std::chrono::milliseconds(0)) && !output_.empty()) {
        pollfd fd{master_, POLLIN, 0};
        if (::poll(&fd, 1, 0) <= 0) break;
      }
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    pump(std::chrono::milliseconds(50));
  }
  return std::nullopt;
}

}  // namespace qim::e2e
