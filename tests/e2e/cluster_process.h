#pragma once
// Real processes for end-to-end tests: a qimd node on loopback with its own temporary data
// directory, and short-lived child processes (the qim terminal client). Waits are polls with
// deadlines, never fixed sleeps. Only processes started here are signalled, by PID.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace qim::e2e {

// Paths given by CMake ($<TARGET_FILE:...>).
const char* qimd_path();
const char* qim_path();
const char* qimctl_path();

// A spawned child with its stdin and stdout/stderr redirected to files.
class ChildProcess {
 public:
  ChildProcess() = default;
  ~ChildProcess();  // SIGKILLs and reaps the child if it is still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Starts argv[0] with stdin from `stdin_path` (or /dev/null when empty) and both output
  // streams appended to `output_path`. Returns false (with `error`) if it could not start.
  // With `error_path`, stderr goes there instead.
  bool start(const std::vector<std::string>& argv, const std::string& stdin_path,
             const std::string& output_path, std::string& error,
             const std::string& error_path = {});
  bool running();
  // Waits for the child to exit; the exit code, or nullopt on timeout (the child keeps
  // running) or when it died of a signal (then `signal` says which).
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void send_signal(int signal);
  pid_t pid() const { return pid_; }
  int term_signal() const { return term_signal_; }

 private:
  pid_t pid_ = -1;
  int term_signal_ = 0;
};

struct ServerOptions {
  std::string dm_policy = "friends";
  std::string node_name = "qim-e2e";
  // Appended to qimd's command line (e.g. --seed, --cluster-key-file, SWIM timings).
  std::vector<std::string> extra_args;
};

// One qimd node. The data directory lives as long as this object (kept when a test fails,
// so it can be inspected); the log is printed to stderr when a test unwinds with it alive.
class ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts qimd on 127.0.0.1 (an ephemeral port the first time, the same port on restarts so
  // clients can reconnect) and waits until it has written its port file.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGTERM, then waits; SIGKILL if it did not exit in time. True when it exited with 0.
  bool stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // SIGKILL (a crash), then reaps.
  void kill();
  // SIGSTOP and SIGCONT: the process keeps its sockets but answers nothing meanwhile (its
  // kernel still accepts connections and buffers bytes), like a node stalled by the machine.
  void pause();
  void resume();
  bool running();
  // Waits for a process that is stopping on its own (e.g. after qimctl leave); its exit code,
  // or nullopt on timeout or death by a signal.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  std::string host() const { return "127.0.0.1"; }
  std::uint16_t port() const { return port_; }
  std::string address() const { return host() + ":" + std::to_string(port_); }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& port_file() const { return port_file_; }
  // From the port file of the current run (0 until start() succeeded).
  std::uint16_t gossip_port() const { return gossip_port_; }
  std::uint16_t admin_port() const { return admin_port_; }
  std::string gossip_address() const { return host() + ":" + std::to_string(gossip_port_); }
  const std::string& node_name() const { return options_.node_name; }
  const std::string& log_path() const { return log_path_; }
  std::string log_text() const;
  // Why the last start() failed.
  const std::string& error() const { return error_; }

 private:
  ServerOptions options_;
  std::string root_;  // the temporary directory holding data/, the port file and the log
  std::string data_dir_;
  std::string port_file_;
  std::string log_path_;
  std::uint16_t port_ = 0;
  std::uint16_t gossip_port_ = 0;
  std::uint16_t admin_port_ = 0;
  std::string error_;
  ChildProcess process_;
};

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A short-lived command run to completion (qimctl): its exit code (nullopt when it timed out,
// was killed or could not start) and its output streams.
struct CommandResult {
  std::optional<int> exit_code;
  std::string out;
  std::string err;
};
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(20));

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& text);

}  // namespace qim::e2e
