#include "service/inline_proposer.h"

#include <cassert>

#include "service/im_service.h"

namespace qim::service {

InlineProposer::InlineProposer(store::Kv& kv, const route::Partitions& partitions)
    : kv_(kv), count_(partitions.count()) {
  partitions_.reserve(count_);
  for (std::uint32_t i = 0; i < count_; ++i)
    partitions_.push_back(std::make_unique<Partition>());
}

void InlineProposer::attach(StateMachine& machine, Written written) {
  machine_ = &machine;
  written_ = std::move(written);
}

void InlineProposer::attach(ImService& service) {
  service.hold_events_until_released();
  attach(service,
         [&service](PartitionId partition, bool ok) { service.after_write(partition, ok); });
}

void InlineProposer::propose(PartitionId partition, std::vector<std::uint8_t> command,
                             std::function<void(ApplyResult)> done) {
  assert(machine_ != nullptr && "attach() before propose()");
  if (partition >= count_) {
    return done(ApplyResult{Error{errc::invalid_argument, "no such partition"}, {}});
  }
  ApplyResult result;
  {
    Partition& state = *partitions_[partition];
    std::lock_guard lock(state.mutex);
    state.batch.clear();
    result = machine_->apply(partition, command, state.batch, true);
    bool ok = true;
    if (!state.batch.empty()) {
      // Buffered: whatever reveals this write (the reply, the pushes) makes it durable first.
      if (Error error = kv_.write_buffered(state.batch)) {
        // Nothing was written: the caches apply() updated may now be ahead of the store.
        machine_->forget_partition(partition);
        ok = false;
        result = ApplyResult{
            Error{errc::internal, "storing the command's writes failed: " + error.message}, {}};
      }
    }
    if (written_) written_(partition, ok);
  }
  done(std::move(result));
}

bool InlineProposer::readable(PartitionId partition) const {
  return partition < count_;
}

std::vector<PartitionId> InlineProposer::readable_partitions() const {
  std::vector<PartitionId> all(count_);
  for (std::uint32_t i = 0; i < count_; ++i)
    all[i] = i;
  return all;
}

}  // namespace qim::service
