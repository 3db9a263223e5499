#include "service/events.h"

namespace qim::service {

Events::Events(Reach& reach, Counters& counters, std::uint32_t partition_count)
    : reach_(reach), counters_(counters), pending_(partition_count) {}

void Events::push_members(PartitionId partition, std::shared_ptr<const Roster> roster,
                          std::span<const std::uint8_t> frame, std::string_view except_user,
                          std::uint64_t except_session) {
  if (!hold_) {
    std::size_t pushed = reach_.push_each(
        roster->members, [](const RosterEntry& member) { return std::string_view(member.user); },
        frame, except_user, except_session);
    Counters::bump(counters_.messages_pushed, pushed);
    return;
  }
  std::span<const std::string_view> none;
  hold(
      partition, none, [](std::string_view user) { return user; }, std::move(roster), frame,
      except_user, except_session, true);
}

void Events::release(PartitionId partition, bool send) {
  Pending& pending = pending_[partition];
  std::string_view names = pending.names;
  for (const Held& held : send ? std::span<const Held>(pending.pushes) : std::span<const Held>()) {
    std::span<const std::uint8_t> frame(pending.frames.data() + held.frame_begin,
                                        held.frame_end - held.frame_begin);
    std::string_view except_user =
        names.substr(held.except_begin, held.except_end - held.except_begin);
    if (held.roster != no_roster) {
      std::size_t pushed = reach_.push_each(
          pending.rosters[held.roster]->members,
          [](const RosterEntry& member) { return std::string_view(member.user); }, frame,
          except_user, held.except_session);
      if (held.deliver) Counters::bump(counters_.messages_pushed, pushed);
      continue;
    }
    pending.users.clear();
    std::size_t begin = held.names_begin;
    for (std::size_t i = held.users_begin; i < held.users_end; ++i) {
      pending.users.push_back(names.substr(begin, pending.name_ends[i] - begin));
      begin = pending.name_ends[i];
    }
    std::size_t pushed = reach_.push_each(pending.users, frame, except_user, held.except_session);
    if (held.deliver) Counters::bump(counters_.messages_pushed, pushed);
  }
  if (pending.frames.capacity() + pending.names.capacity() > retained_bytes) {
    pending = Pending{};
    return;
  }
  pending.frames.clear();
  pending.names.clear();
  pending.name_ends.clear();
  pending.pushes.clear();
  pending.users.clear();
  pending.rosters.clear();
}

}  // namespace qim::service
