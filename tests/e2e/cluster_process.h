#pragma once
#include <signal.h>
// The e2e tests' view of the shared process support (tests/support/process.h): the same types,
// with the binaries under test found where CMake built them.
#include <utility>

#include "process.h"

namespace qim::e2e {

// Paths given by CMake ($<TARGET_FILE:...>).
const char* qimd_path();
const char* qim_path();
const char* qimctl_path();

using test_support::ChildProcess;
using test_support::CommandResult;
using test_support::read_file;
using test_support::run_command;
using test_support::ServerOptions;
using test_support::TempDir;
using test_support::write_file;

// A qimd node running the binary under test unless the options name another.
class ServerProcess : public test_support::ServerProcess {
 public:
  explicit ServerProcess(ServerOptions options = {})
      : test_support::ServerProcess(with_binary(std::move(options))) {}
  // SIGSTOP and SIGCONT: the process keeps its sockets but answers nothing meanwhile (its
  // kernel still accepts connections and buffers bytes), like a node stalled by the machine.
  void pause() { send_signal(SIGSTOP); }
  void resume() { send_signal(SIGCONT); }

 private:
  static ServerOptions with_binary(ServerOptions options) {
    if (options.qimd_path.empty()) options.qimd_path = qimd_path();
    return options;
  }
};

}  // namespace qim::e2e
