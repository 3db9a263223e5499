// Fuzzes StateMachine::apply, the decoder of commands from a partition's log. The input is
// either raw bytes handed to apply() as one command (which must be refused cleanly, writing
// nothing, unless it happens to be a well-formed command), or, when the first byte says so, a
// sequence of well-formed commands built from the input and applied in order, so the apply
// logic itself (dedup, seqs, roles, friend states, pruning, history trims) runs on arbitrary
// histories.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/log.h"
#include "qim/ids.h"
#include "service/commands.h"
#include "service/im_service.h"
#include "service/inline_proposer.h"
#include "store/memory_kv.h"

namespace {

using namespace qim;

constexpr std::uint32_t partition_count = 4;
const char* const users[] = {"alice", "bob", "carol", "dave"};
const char* const groups[] = {"g1", "g2"};

std::string pick(FuzzedDataProvider& input, const char* const* names, std::size_t count) {
  return names[input.ConsumeIntegralInRange<std::size_t>(0, count - 1)];
}

// One well-formed command of any kind, with fields drawn from a few names so that commands
// meet each other's records.
service::Command next_command(FuzzedDataProvider& input, std::vector<std::string>& strings,
                              std::vector<std::uint8_t>& digest) {
  service::Command command;
  command.kind = static_cast<service::CommandKind>(
      input.ConsumeIntegralInRange<int>(0, static_cast<int>(service::CommandKind::prune_dedup)));
  // History trims meet the logs the sends wrote (cutoffs within the command times below).
  if (command.kind == service::CommandKind::prune_dedup && input.ConsumeBool()) {
    command.kind = service::CommandKind::trim_history;
  }
  command.time_ms = input.ConsumeIntegralInRange<std::uint64_t>(0, 1'000'000);
  strings.push_back(pick(input, users, std::size(users)));
  command.user = strings.back();
  command.device = input.ConsumeBool() ? "phone" : "laptop";
  strings.push_back(pick(input, users, std::size(users)));
  std::string_view other = strings.back();
  if (other == command.user) other = command.user == "alice" ? "bob" : "alice";
  command.other = other;
  strings.push_back(pick(input, groups, std::size(groups)));
  command.group = strings.back();
  if (input.ConsumeBool()) {
    command.to_group = command.group;
  } else {
    command.to_user = other;
  }
  command.client_msg_id = input.ConsumeIntegralInRange<std::uint64_t>(1, 4);
  strings.push_back(input.ConsumeRandomLengthString(64));
  command.body = strings.back().empty() ? std::string_view("x") : strings.back();
  command.friends_only = input.ConsumeBool();
  command.conversation =
      input.ConsumeBool() ? std::string_view("g:g1") : std::string_view("d:alice:bob");
  command.seq = input.ConsumeIntegralInRange<std::uint64_t>(0, 8);
  digest.assign(32, input.ConsumeIntegral<std::uint8_t>());
  command.digest = digest;
  command.keep = digest;
  command.verified_hash = input.ConsumeBool() ? "hash-1" : "hash-2";
  command.new_hash = input.ConsumeBool() ? "hash-1" : "hash-2";
  command.max_tokens = input.ConsumeIntegralInRange<std::uint32_t>(0, 3);
  command.disabled = input.ConsumeBool();
  for (int i = input.ConsumeIntegralInRange<int>(0, 3); i > 0; --i)
    command.users.push_back(users[input.ConsumeIntegralInRange<std::size_t>(0, 3)]);
  command.max_members = input.ConsumeIntegralInRange<std::uint32_t>(0, 5);
  command.role = static_cast<service::GroupRole>(input.ConsumeIntegralInRange<int>(0, 2));
  command.cutoff_ms = input.ConsumeIntegralInRange<std::uint64_t>(0, 1'000'000);
  command.max_visits = input.ConsumeIntegralInRange<std::uint32_t>(0, 3);
  // Buffered cursors: some of the users' cursors in one command.
  if (command.kind == service::CommandKind::ack && input.ConsumeBool()) {
    command.kind = service::CommandKind::cursors;
    for (int i = input.ConsumeIntegralInRange<int>(1, 3); i > 0; --i) {
      command.cursors.push_back(service::CursorView{
          users[input.ConsumeIntegralInRange<std::size_t>(0, 3)],
          input.ConsumeBool() ? "phone" : "laptop",
          input.ConsumeBool() ? std::string_view("g:g1") : std::string_view("d:alice:bob"),
          input.ConsumeIntegralInRange<std::uint64_t>(0, 8)});
    }
  }
  return command;
}

// The partition a command belongs in, or a wrong one now and then.
route::PartitionId partition_for(const service::Command& command, const service::Keys& keys,
                                 bool wrong) {
  std::string placement;
  switch (command.kind) {
    case service::CommandKind::send:
      placement = command.to_group.empty() ? direct_conversation(command.user, command.to_user)
                                           : group_conversation(command.to_group);
      break;
    case service::CommandKind::friend_request:
    case service::CommandKind::friend_accept:
    case service::CommandKind::friend_decline:
    case service::CommandKind::friend_remove:
      placement = direct_conversation(command.user, command.other);
      break;
    case service::CommandKind::group_create:
    case service::CommandKind::group_add:
    case service::CommandKind::group_remove:
    case service::CommandKind::group_set_role:
    case service::CommandKind::group_leave:
    case service::CommandKind::group_dissolve:
      placement = group_conversation(command.group);
      break;
    case service::CommandKind::cursors:
      placement = std::string(command.cursors.front().user);
      break;
    default:
      placement = std::string(command.user);
  }
  route::PartitionId partition = keys.partition_of(placement);
  return wrong ? (partition + 1) % partition_count : partition;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  store::MemoryKv kv;
  core::ManualClock clock;
  core::Logger logger(core::LogLevel::off);
  service::Options options;
  route::Partitions partitions(partition_count, cluster::HashKey{});
  service::InlineProposer proposer(kv, partitions);
  service::ImService service(kv, clock, logger, options, proposer, partitions);
  proposer.attach(service);
  store::WriteBatch batch;

  if (size == 0 || data[0] < 0xc0) {
    // Raw bytes: a refusal writes nothing; whatever happens, nothing crashes.
    route::PartitionId partition = size > 1 ? data[1] % (partition_count + 1) : 0;
    service::ApplyResult result = service.apply(partition, {data, size}, batch, true);
    if (result.error && !batch.empty()) std::abort();
    return 0;
  }
  FuzzedDataProvider input(data + 1, size - 1);
  std::vector<std::string> strings;
  std::vector<std::uint8_t> digest;
  for (int i = 0; i < 64 && input.remaining_bytes() > 0; ++i) {
    strings.clear();
    strings.reserve(8);  // the command views them
    service::Command command = next_command(input, strings, digest);
    auto bytes = service::encode_command(command);
    route::PartitionId partition = partition_for(command, service.keys(), input.ConsumeBool());
    batch.clear();
    service::ApplyResult result = service.apply(partition, bytes, batch, input.ConsumeBool());
    if (result.error && !batch.empty()) std::abort();
    if (!batch.empty() && kv.write(batch, false)) std::abort();
  }
  return 0;
}
