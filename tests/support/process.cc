#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace qim::test_support {
namespace {

// Poll interval while waiting on a child or a file; short, since every wait has a deadline.
constexpr auto poll_interval = std::chrono::milliseconds(5);
// Log bytes printed when a test fails with a server alive.
constexpr std::size_t max_log_bytes_printed = 16 * 1024;

std::string make_temp_dir(const char* prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/" + prefix + "XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) return {};
  return buffer.data();
}

// The port of the "<label> <port>" line of a port file; 0 when there is none.
std::uint16_t port_line(const std::string& text, const std::string& label) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(label + " ", 0) != 0) continue;
    unsigned long value = std::strtoul(line.c_str() + label.size() + 1, nullptr, 10);
    return value <= 65535 ? static_cast<std::uint16_t>(value) : 0;
  }
  return 0;
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

TempDir::TempDir() : path_(make_temp_dir("qim-e2e-")) {}
TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
}

// --- ChildProcess ---------------------------------------------------------------------------

ChildProcess::~ChildProcess() {
  if (running()) {
    send_signal(SIGKILL);
    (void)wait(std::chrono::seconds(10));
  }
}

bool ChildProcess::start(const std::vector<std::string>& argv, const std::string& stdin_path,
                         const std::string& output_path, std::string& error,
                         const std::string& error_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(
      &actions, STDIN_FILENO, stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, output_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (error_path.empty()) {
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  } else {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, error_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  std::vector<char*> args;
  for (const auto& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  // The child starts with no signal blocked, whatever this process blocks (a caller that waits
  // for its own signals on a thread blocks them everywhere, and a mask survives exec).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int result = ::posix_spawn(&pid, args[0], &actions, &attributes, args.data(), environ);
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (result != 0) {
    error = std::string("posix_spawn ") + argv[0] + ": " + std::strerror(result);
    return false;
  }
  pid_ = pid;
  term_signal_ = 0;
  return true;
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t done = ::waitpid(pid_, &status, WNOHANG);
  if (done == 0) return true;
  if (done == pid_ && WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
  pid_ = -1;
  return false;
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      term_signal_ = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      return std::nullopt;
    }
    if (done < 0 && errno != EINTR) {
      pid_ = -1;
      return std::nullopt;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(poll_interval);
  }
}

void ChildProcess::send_signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

// --- ServerProcess --------------------------------------------------------------------------

ServerProcess::ServerProcess(ServerOptions options) : options_(std::move(options)) {
  owns_root_ = options_.root_dir.empty();
  root_ = owns_root_ ? make_temp_dir("qimd-e2e-") : options_.root_dir;
  port_ = options_.listen_port;
  data_dir_ = root_ + "/data";
  port_file_ = root_ + "/port";
  log_path_ = options_.log_path.empty() ? root_ + "/qimd.log" : options_.log_path;
  std::error_code ignored;
  std::filesystem::create_directories(data_dir_, ignored);
}

ServerProcess::~ServerProcess() {
  bool failing = std::uncaught_exceptions() > 0;
  if (failing) {
    std::string log = log_text();
    if (log.size() > max_log_bytes_printed) {
      log = "...\n" + log.substr(log.size() - max_log_bytes_printed);
    }
    std::fprintf(stderr, "---- qimd log (%s) ----\n%s\n---- end of qimd log ----\n",
                 log_path_.c_str(), log.c_str());
  }
  if (running()) kill();
  std::error_code ignored;
  if (!failing && owns_root_ && !root_.empty()) std::filesystem::remove_all(root_, ignored);
}

bool ServerProcess::start(std::chrono::milliseconds timeout) {
  error_.clear();
  if (root_.empty()) {
    error_ = "could not create a temporary directory";
    return false;
  }
  if (options_.qimd_path.empty()) {
    error_ = "no qimd binary given";
    return false;
  }
  std::error_code ignored;
  std::filesystem::remove(port_file_, ignored);
  std::string listen = "127.0.0.1:" + std::to_string(port_);  // port 0 the first time
  std::vector<std::string> argv = {
      options_.qimd_path, "--listen",      listen, "--port-file", port_file_,         "--data-dir",
      data_dir_,          "--pwhash-cost", "min",  "--dm-policy", options_.dm_policy, "--node-name",
      options_.node_name};
  // Tests and the soak register many users from one address; the per-address registration
  // limit is lifted unless the test sets it itself.
  if (std::find(options_.extra_args.begin(), options_.extra_args.end(),
                "--registrations-per-minute") == options_.extra_args.end()) {
    argv.insert(argv.end(), {"--registrations-per-minute", "1000000"});
  }
  // A restart keeps the gossip address the others know this node by, as a real node's would.
  if (gossip_port_ != 0 && std::find(options_.extra_args.begin(), options_.extra_args.end(),
                                     "--gossip-listen") == options_.extra_args.end()) {
    argv.insert(argv.end(), {"--gossip-listen", "127.0.0.1:" + std::to_string(gossip_port_)});
  }
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  {
    std::ofstream log(log_path_, std::ios::app);
    log << "==== starting qimd on " << listen << " ====\n";
  }
  if (!process_.start(argv, {}, log_path_, error_)) return false;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!process_.running()) {
      error_ = "qimd exited during start-up; log:\n" + log_text();
      return false;
    }
    std::string text = read_file(port_file_);
    unsigned long value = std::strtoul(text.c_str(), nullptr, 10);
    if (value > 0 && value <= 65535) {
      port_ = static_cast<std::uint16_t>(value);
      gossip_port_ = port_line(text, "gossip");
      admin_port_ = port_line(text, "admin");
      return true;
    }
    std::this_thread::sleep_for(poll_interval);
  }
  error_ = "qimd did not write its port file in time; log:\n" + log_text();
  kill();
  return false;
}

bool ServerProcess::stop(std::chrono::milliseconds timeout) {
  if (!process_.running()) return false;
  process_.send_signal(SIGTERM);
  auto status = process_.wait(timeout);
  if (!status && process_.running()) {
    kill();
    return false;
  }
  return status && *status == 0;
}

void ServerProcess::send_signal(int signal) {
  process_.send_signal(signal);
}

void ServerProcess::kill() {
  process_.send_signal(SIGKILL);
  (void)process_.wait(std::chrono::seconds(20));
}

bool ServerProcess::running() {
  return process_.running();
}

std::optional<int> ServerProcess::wait_exit(std::chrono::milliseconds timeout) {
  return process_.wait(timeout);
}

std::string ServerProcess::log_text() const {
  return read_file(log_path_);
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandResult result;
  TempDir directory;
  std::string out_path = directory.file("out");
  std::string err_path = directory.file("err");
  ChildProcess child;
  std::string error;
  if (directory.path().empty() || !child.start(argv, {}, out_path, error, err_path)) {
    result.err = "could not start " + argv.front() + ": " + error;
    return result;
  }
  result.exit_code = child.wait(timeout);
  if (!result.exit_code && child.running()) {
    child.send_signal(SIGKILL);
    (void)child.wait(std::chrono::seconds(10));
  }
  result.out = read_file(out_path);
  result.err = read_file(err_path);
  return result;
}

}  // namespace qim::test_support
