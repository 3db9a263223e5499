#pragma once
// Carries out the fault plan against the cluster on a thread of its own: kill -9 and restart,
// SIGSTOP and SIGCONT, SIGTERM (a graceful leave: the exit code and how long it took are
// recorded) and restart, a fresh node joining and later removed with SIGTERM. It also watches
// every node for exits nobody asked for. At the end it heals: resumes what is paused and
// restarts what is down.
//
// The plan keeps a majority of the initial members up by its estimates; the executor checks
// again against what is really down and postpones a fault until it may go ahead.
//
// Thread: its own between start() and stop_and_heal(); the cluster is its alone meanwhile.
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "cluster.h"
#include "history.h"
#include "run_clock.h"
#include "schedule.h"

namespace qim::soak {

struct NemesisOptions {
  std::int64_t leave_bound_ms = 30'000;
  std::int64_t run_start_ms = 0;  // plan times are relative to this
  std::uint32_t max_out = 2;      // initial members down or paused at once
};

class Nemesis {
 public:
  Nemesis(SoakCluster& cluster, HistoryWriter& history, const RunClock& clock,
          std::vector<PlannedFault> plan, NemesisOptions options);
  ~Nemesis();
  Nemesis(const Nemesis&) = delete;
  Nemesis& operator=(const Nemesis&) = delete;

  void start();
  // Stops injecting, ends every fault that lasts (SIGCONT, restart; a leaving node is awaited
  // up to the bound) and joins the thread. Returns the names of the nodes that are up.
  std::vector<std::string> stop_and_heal();
  // Expected exits from now on (the harness stopping the cluster) are not crashes.
  void record_expected_exit(const std::string& node, int exit_code, int signal);

 private:
  enum class NodeState { up, killed, paused, leaving, left, crashed, removed };
  struct Active {
    PlannedFault plan;
    FaultRecord record;
    std::int64_t next_ms = 0;  // when the next step is due
    int step = 0;              // 0: not started; 1: in effect; 2: waiting to restart
    bool done = false;
  };

  void loop();
  void step(Active& fault, std::int64_t now);
  bool may_start(const Active& fault) const;
  void watch_processes(std::int64_t now);
  void end_fault(Active& fault, std::int64_t now, const std::string& note = {});
  bool restart(const std::string& node, std::string& error);
  // Polls a SIGTERM'd node; true once it exited (recorded in `fault`) or was killed at the
  // bound.
  bool leave_finished(Active& fault, std::int64_t now);
  std::uint32_t initial_out() const;

  SoakCluster& cluster_;
  HistoryWriter& history_;
  const RunClock& clock_;
  NemesisOptions options_;
  std::vector<Active> faults_;
  std::map<std::string, NodeState> states_;
  std::map<std::string, std::int64_t> crashed_at_;  // run time of an unbidden exit
  std::vector<std::string> initial_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace qim::soak
