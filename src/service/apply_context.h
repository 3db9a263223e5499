#pragma once
// What the parts of the service share to propose commands and to apply them.
#include <functional>
#include <string>
#include <string_view>

#include "service/commands.h"
#include "service/replication.h"
#include "store/kv.h"

namespace qim::service {

// One command being applied (StateMachine::apply): its partition, its decoded fields, the
// batch its writes go to, and whether this replica leads the partition (and so pushes).
struct ApplyContext {
  PartitionId partition;
  const Command& command;
  store::WriteBatch& batch;
  bool leader;
};

// Completions of the asynchronous write methods: called exactly once, from any thread.
using Done = std::function<void(Error)>;
template <typename T>
using ResultDone = std::function<void(Result<T>)>;

// Reads are served by the partition's leader only: Unavailable elsewhere (the node redirects,
// or the client retries).
inline Error require_readable(const Proposer& proposer, PartitionId partition,
                              std::string_view what) {
  if (proposer.readable(partition)) return {};
  return Error{errc::unavailable,
               "this node does not serve " + std::string(what) + " now; retry shortly"};
}

// Proposes `command` to `partition`; `done` gets the refusal or ok.
inline void propose(Proposer& proposer, PartitionId partition, const Command& command, Done done) {
  proposer.propose(partition, encode_command(command),
                   [done = std::move(done)](ApplyResult result) { done(std::move(result.error)); });
}

}  // namespace qim::service
