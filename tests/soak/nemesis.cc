#include "nemesis.h"

#include <signal.h>

#include <chrono>

#include <fmt/core.h>

namespace qim::soak {
namespace {

constexpr auto tick = std::chrono::milliseconds(20);
// A fault that may not start yet (a majority would be down, or its node is still out) is
// looked at again after this long.
constexpr std::int64_t postpone_ms = 500;
// A node that crashed is restarted after this long, so the run goes on.
constexpr std::int64_t crash_restart_ms = 2'000;

}  // namespace

Nemesis::Nemesis(SoakCluster& cluster, HistoryWriter& history, const RunClock& clock,
                 std::vector<PlannedFault> plan, NemesisOptions options)
    : cluster_(cluster), history_(history), clock_(clock), options_(options) {
  for (auto& planned : plan) {
    Active active;
    active.next_ms = planned.start_ms;
    active.record.id = planned.id;
    active.record.kind = fault_kind_name(planned.kind);
    active.record.node = planned.node;
    active.plan = std::move(planned);
    faults_.push_back(std::move(active));
  }
  initial_ = cluster_.initial_names();
  for (const auto& name : initial_)
    states_[name] = NodeState::up;
}

Nemesis::~Nemesis() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Nemesis::start() {
  thread_ = std::thread([this] { loop(); });
}

std::uint32_t Nemesis::initial_out() const {
  std::uint32_t out = 0;
  for (const auto& name : initial_) {
    auto it = states_.find(name);
    if (it != states_.end() && it->second != NodeState::up) ++out;
  }
  return out;
}

bool Nemesis::may_start(const Active& fault) const {
  if (fault.plan.kind == FaultKind::join) return true;
  auto it = states_.find(fault.plan.node);
  return it != states_.end() && it->second == NodeState::up && initial_out() < options_.max_out;
}

void Nemesis::loop() {
  std::uint32_t crash_checks = 0;
  while (!stopping_) {
    std::int64_t now = clock_.now_ms() - options_.run_start_ms;
    for (auto& fault : faults_) {
      if (!fault.done && now >= fault.next_ms) step(fault, now);
    }
    if (++crash_checks % 5 == 0) watch_processes(now);
    std::this_thread::sleep_for(tick);
  }
}

bool Nemesis::restart(const std::string& node, std::string& error) {
  if (!cluster_.start_node(node, error)) return false;
  states_[node] = NodeState::up;
  return true;
}

void Nemesis::end_fault(Active& fault, std::int64_t now, const std::string& note) {
  (void)now;
  fault.done = true;
  fault.record.end_ms = clock_.now_ms();
  if (!note.empty()) {
    fault.record.note += (fault.record.note.empty() ? "" : "; ") + note;
  }
  history_.write_fault(fault.record, /*started=*/false);
  history_.flush();
}

bool Nemesis::leave_finished(Active& fault, std::int64_t now) {
  auto* process = cluster_.find(fault.record.node);
  if (process == nullptr) return true;
  std::int64_t since_ms = now - fault.next_ms;  // next_ms holds when SIGTERM went out
  auto code = process->wait_exit(std::chrono::milliseconds(0));
  if (code || !process->running()) {
    fault.record.exited = true;
    fault.record.exit_code = code ? *code : -1;
    fault.record.signal = code ? 0 : process->term_signal();
    fault.record.leave_ms = since_ms;
    history_.write(ProcessExit{fault.record.node, clock_.now_ms(), true, fault.record.exit_code,
                               fault.record.signal});
    return true;
  }
  if (since_ms > options_.leave_bound_ms) {
    process->kill();
    fault.record.exited = false;
    fault.record.leave_ms = since_ms;
    fault.record.note += fmt::format("SIGKILLed after {} ms of leaving", since_ms);
    history_.write(ProcessExit{fault.record.node, clock_.now_ms(), true, -1, SIGKILL});
    return true;
  }
  return false;
}

void Nemesis::step(Active& fault, std::int64_t now) {
  const std::string& node = fault.record.node;
  std::string error;
  if (fault.step == 0) {
    if (!may_start(fault)) {
      fault.next_ms = now + postpone_ms;
      return;
    }
    if (now - fault.plan.start_ms > postpone_ms) {
      fault.record.note = fmt::format("postponed {} ms", now - fault.plan.start_ms);
    }
    fault.record.start_ms = clock_.now_ms();
    fault.step = 1;
    switch (fault.plan.kind) {
      case FaultKind::kill: {
        auto* process = cluster_.find(node);
        process->kill();
        states_[node] = NodeState::killed;
        history_.write(ProcessExit{node, clock_.now_ms(), true, -1, SIGKILL});
        fault.next_ms = now + fault.plan.duration_ms;
        break;
      }
      case FaultKind::stop:
        cluster_.find(node)->send_signal(SIGSTOP);
        states_[node] = NodeState::paused;
        fault.next_ms = now + fault.plan.duration_ms;
        break;
      case FaultKind::term:
        cluster_.find(node)->send_signal(SIGTERM);
        fault.record.terminated = true;
        states_[node] = NodeState::leaving;
        fault.next_ms = now;  // when SIGTERM went out
        break;
      case FaultKind::join:
        if (!cluster_.start_node(node, error)) {
          history_.write_fault(fault.record, /*started=*/true);
          end_fault(fault, now, "could not start: " + error);
          return;
        }
        states_[node] = NodeState::up;
        fault.next_ms = now + fault.plan.duration_ms;
        break;
    }
    history_.write_fault(fault.record, /*started=*/true);
    history_.flush();
    return;
  }
  switch (fault.plan.kind) {
    case FaultKind::kill:
      if (!restart(node, error)) {
        states_[node] = NodeState::crashed;
        end_fault(fault, now, "restart failed: " + error);
      } else {
        end_fault(fault, now);
      }
      return;
    case FaultKind::stop:
      cluster_.find(node)->send_signal(SIGCONT);
      states_[node] = NodeState::up;
      end_fault(fault, now);
      return;
    case FaultKind::term:
      if (fault.step == 1) {
        if (!leave_finished(fault, now)) return;  // polled again next tick
        states_[node] = NodeState::left;
        fault.step = 2;
        fault.next_ms = now + fault.plan.duration_ms;
        return;
      }
      if (!restart(node, error)) {
        states_[node] = NodeState::crashed;
        end_fault(fault, now, "restart failed: " + error);
      } else {
        end_fault(fault, now);
      }
      return;
    case FaultKind::join:
      if (fault.step == 1) {
        cluster_.find(node)->send_signal(SIGTERM);
        fault.record.terminated = true;
        states_[node] = NodeState::leaving;
        fault.step = 2;
        fault.next_ms = now;
        return;
      }
      if (!leave_finished(fault, now)) return;
      states_[node] = NodeState::removed;
      end_fault(fault, now);
      return;
  }
}

void Nemesis::watch_processes(std::int64_t now) {
  for (auto& [name, state] : states_) {
    auto* process = cluster_.find(name);
    if (process == nullptr) continue;
    if (state == NodeState::up || state == NodeState::paused) {
      auto code = process->wait_exit(std::chrono::milliseconds(0));
      if (!code && process->running()) continue;
      history_.write(ProcessExit{name, clock_.now_ms(), false, code ? *code : -1,
                                 code ? 0 : process->term_signal()});
      history_.flush();
      state = NodeState::crashed;
      crashed_at_[name] = now;
    } else if (state == NodeState::crashed) {
      auto it = crashed_at_.find(name);
      if (it != crashed_at_.end() && now - it->second < crash_restart_ms) continue;
      std::string error;
      if (cluster_.start_node(name, error)) {
        state = NodeState::up;
        crashed_at_.erase(name);
      } else {
        crashed_at_[name] = now;  // try again later
      }
    }
  }
}

void Nemesis::record_expected_exit(const std::string& node, int exit_code, int signal) {
  history_.write(ProcessExit{node, clock_.now_ms(), true, exit_code, signal});
}

std::vector<std::string> Nemesis::stop_and_heal() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  std::string error;
  for (auto& fault : faults_) {
    if (fault.done) continue;
    std::int64_t now = clock_.now_ms() - options_.run_start_ms;
    const std::string& node = fault.record.node;
    if (fault.step == 0) {
      fault.done = true;  // never started
      continue;
    }
    switch (fault.plan.kind) {
      case FaultKind::kill:
      case FaultKind::stop:
        step(fault, now);
        break;
      case FaultKind::term:
        while (fault.step == 1 && !leave_finished(fault, clock_.now_ms() - options_.run_start_ms))
          std::this_thread::sleep_for(tick);
        if (fault.step == 1) {
          states_[node] = NodeState::left;
          fault.step = 2;
        }
        step(fault, clock_.now_ms() - options_.run_start_ms);
        break;
      case FaultKind::join:
        if (fault.step == 1) {
          end_fault(fault, now, "still a member at the end of the run");
          break;
        }
        while (!leave_finished(fault, clock_.now_ms() - options_.run_start_ms))
          std::this_thread::sleep_for(tick);
        states_[node] = NodeState::removed;
        end_fault(fault, now);
        break;
    }
  }
  std::vector<std::string> up;
  for (auto& [name, state] : states_) {
    if (state == NodeState::crashed && cluster_.start_node(name, error)) state = NodeState::up;
    if (state == NodeState::up) up.push_back(name);
  }
  return up;
}

}  // namespace qim::soak
