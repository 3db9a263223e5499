#pragma once
// History retention (qimd --retain-days): messages older than the retention leave their
// conversations' logs in a background sweep, never on the message path.
//
// The sweep is a command, trim_history, that the partition's leader proposes with the cutoff it
// chose (now - retention); every replica applies it to its applied state with the same outcome,
// so replicas stay identical. One command examines at most `max_visits` log keys from a cursor
// the partition keeps and reports `more` when it stopped early; the leader proposes again while
// it does. A conversation's log is trimmed from its oldest entry up to its first entry at or
// after the cutoff (server times follow seqs up to leader clock skew). When every entry of a
// conversation goes, a log floor record keeps its head, so seqs are never reused. Heads,
// memberships, read cursors and dedup records stay; pull and history return what remains.
//
// Thread-safety: apply() only on the partition's apply thread; sweep() from any thread.
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "service/apply_context.h"
#include "service/replication.h"
#include "store/kv.h"

namespace qim::service {

class HistoryTrim {
 public:
  // Log keys one proposed trim examines in its partition.
  static constexpr std::uint32_t max_visits = 5'000;
  // A trim never examines more than this, whatever it asks for.
  static constexpr std::uint32_t visits_cap = 100'000;
  // Commands one sweep proposes to a partition at most; the next sweep resumes.
  static constexpr std::size_t max_rounds = 64;
  // How long a sweep waits for a trim's outcome before it leaves the partition for now.
  static constexpr std::chrono::seconds outcome_timeout{30};

  HistoryTrim(store::Kv& kv, Proposer& proposer) : kv_(kv), proposer_(proposer) {}

  // Proposes trims of the entries older than now_ms - retention_ms to every partition this
  // node leads, each again while it reports more (up to max_rounds). BLOCKING: waits for each
  // trim's outcome. Returns how many trims it proposed; none when retention_ms is 0 (forever).
  std::size_t sweep(std::uint64_t retention_ms, std::int64_t now_ms);

  // Applies trim_history.
  ApplyResult apply(const ApplyContext& context);

 private:
  store::Kv& kv_;
  Proposer& proposer_;
};

}  // namespace qim::service
