#pragma once
// A proposer for one process without replication: each command is applied at once, on the
// proposing thread, and its batch written through the store's buffered write path (group
// commit: the writers that reveal it make it durable first, ImService::make_durable). It leads
// every partition and may read all of them. Unit tests, fuzzers and a single qimd use it.
//
// There is no log that holds a command before it is applied, so the service's pushes wait until
// the batch is written (ImService::hold_events_until_released); attach() arranges that.
//
// Thread-safety: thread-safe. One mutex per partition serialises its applies (commands of one
// partition from one thread are applied in the order proposed); `done` is called on the
// proposing thread after the mutex is released.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "route/partitions.h"
#include "service/replication.h"
#include "store/kv.h"

namespace qim::service {

class ImService;

class InlineProposer final : public Proposer {
 public:
  InlineProposer(store::Kv& kv, const route::Partitions& partitions);

  // Applies commands with `machine`; `written(partition, ok)` runs after each command's batch
  // was written (ok) or failed to be, still in the partition's turn. REQUIRES: before the first
  // propose(); both outlive this.
  using Written = std::function<void(PartitionId, bool ok)>;
  void attach(StateMachine& machine, Written written = {});
  // The same for the IM service, holding its pushes until each batch is written.
  void attach(ImService& service);

  void propose(PartitionId partition, std::vector<std::uint8_t> command,
               std::function<void(ApplyResult)> done) override;
  bool readable(PartitionId partition) const override;
  std::vector<PartitionId> readable_partitions() const override;

 private:
  struct Partition {
    std::mutex mutex;
    store::WriteBatch batch;  // GUARDED_BY(mutex); reused by every command
  };

  store::Kv& kv_;
  const std::uint32_t count_;
  StateMachine* machine_ = nullptr;
  Written written_;
  std::vector<std::unique_ptr<Partition>> partitions_;
};

}  // namespace qim::service
