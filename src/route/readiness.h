#pragma once
// Readiness (DESIGN §7: "the new home pulls what it lacks before serving"): which of the keys
// this node owns it may not serve yet, because the node that held them before a placement
// change has not yet said that it handed everything over (a HandoffDone). Pure: placements,
// Done reports and the time are arguments; node/placement_tracker.h applies it.
//
// After a change from `previous` to `next`, a key this node owns under `next` waits for its
// home under `previous` (its source) when that is another node, live in `next`. A Done from a
// source ends every wait on it when it names the layout this node now routes by: the source has
// then finished a handoff pass under that layout, which ships everything it holds whose home is
// here. Layouts are compared by fingerprint (placement versions are per node and say nothing
// across nodes); a Done for another layout (older, or one this node has not reached yet) is
// remembered but ends nothing until this node routes by that layout. A source that leaves the
// placement (dies or leaves) is no longer waited for, and every wait ends at its deadline, so
// no key stays unavailable for longer than the timeout. (A member that is down, NodeInfo::up
// false, counts as gone.)
//
// A node that starts alone knows no earlier layout of the cluster it joins: while it joins
// (its previous placement held only itself, or an earlier join wait is still open) its keys
// also wait for their home under `next` without it, which is where they lived before it came.
// (A node that really was alone waits the same way for the newcomer, which holds nothing and
// answers Done after its first, empty, pass.)
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cluster/ring/ring.h"
#include "route/placement.h"

namespace qim::route {

// The same on every node whose placement has the same members and vnodes: what a HandoffDone
// names so that its receiver can tell which layout the pass was for.
std::uint64_t layout_fingerprint(const Placement& placement);

// An immutable view of the open waits, for readers on any thread.
class ReadinessGate {
 public:
  // True when `key` (a placement key this node owns) waits for a source. No allocation.
  bool blocks(std::string_view key) const;
  bool empty() const { return waits_.empty(); }

 private:
  friend class Readiness;
  struct Wait {
    std::shared_ptr<const cluster::Ring> ring;  // the layout the sources held keys under
    std::vector<std::string> sources;
  };
  std::vector<Wait> waits_;
};

// Not thread-safe: one owner applies events in order and publishes gate() to readers.
class Readiness {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit Readiness(std::chrono::milliseconds timeout) : timeout_(timeout) {}

  // This node's placement changed from `previous` to `next` at `now`.
  // REQUIRES: both rings use the same hash key.
  void placement_changed(const Placement& previous, const Placement& next, TimePoint now);
  // `from` finished a handoff pass under the layout `fingerprint`. True when that ended a wait.
  bool handoff_done(std::string_view from, std::uint64_t fingerprint);
  // Ends the waits whose deadline is at or before `now`; returns the sources given up on
  // (sorted, distinct).
  std::vector<std::string> expire(TimePoint now);

  // The earliest deadline of an open wait.
  std::optional<TimePoint> next_deadline() const;
  // The sources waited for (sorted, distinct).
  std::vector<std::string> awaited() const;
  // The fingerprint of the layout this node routes by (0 before the first change).
  std::uint64_t layout() const { return layout_; }
  bool blocks(std::string_view key) const;
  // A snapshot of the open waits; null when there are none.
  std::shared_ptr<const ReadinessGate> gate() const;

 private:
  struct Wait {
    std::shared_ptr<const cluster::Ring> ring;
    std::vector<std::string> sources;  // sorted
    TimePoint deadline;
    bool joining = false;
  };
  // Opens a wait for the keys that move from `before` to this node in `next`.
  void open_wait(cluster::Ring before, const Placement& next, bool joining, TimePoint now);
  void drop_empty();

  const std::chrono::milliseconds timeout_;
  std::uint64_t layout_ = 0;
  std::vector<Wait> waits_;
  std::unordered_map<std::string, std::uint64_t> last_done_;  // the latest Done per source
};

}  // namespace qim::route
