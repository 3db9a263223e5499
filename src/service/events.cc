#include "service/events.h"

namespace qim::service {

Events::Events(Reach& reach, Counters& counters, std::uint32_t partition_count)
    : reach_(reach), counters_(counters), held_(partition_count) {}

void Events::release(PartitionId partition, bool send) {
  std::vector<Held>& held = held_[partition];
  for (Held& push : held) {
    if (!send) break;
    std::size_t pushed = reach_.push_each(
        push.users, [](const std::string& user) { return std::string_view(user); }, push.frame,
        push.except_user, push.except_session);
    if (push.deliver) Counters::bump(counters_.messages_pushed, pushed);
  }
  held.clear();
}

}  // namespace qim::service
