#pragma once
// The pushes apply() makes as the partition's leader (Deliver, friend, group and presence
// events), in apply order. Normally they go out through Reach at once. With the inline proposer
// there is no log that holds a command before it is applied, so a push must not leave before
// the command's batch is written (a crash in between would lose what a recipient already saw):
// it then holds them per partition until release().
//
// Thread-safety: push() and release() of one partition are called by that partition's apply
// thread only (one at a time); different partitions run concurrently.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "service/counters.h"
#include "service/partition_caches.h"
#include "service/reach.h"

namespace qim::service {

class Events {
 public:
  Events(Reach& reach, Counters& counters, std::uint32_t partition_count);

  // REQUIRES: before any command is applied.
  void hold_until_released(bool hold) { hold_ = hold; }

  // Pushes `frame` to every session of each user in `users` (user_of(item) gives the id),
  // except session `except_session` of `except_user`. `deliver`: a Deliver, counted in
  // messages_pushed.
  template <class Range, class UserOf>
  void push(PartitionId partition, const Range& users, UserOf user_of,
            std::span<const std::uint8_t> frame, std::string_view except_user,
            std::uint64_t except_session, bool deliver = false);
  // A group's Deliver: to its members, `roster` kept alive (not copied) while held.
  void push_members(PartitionId partition, std::shared_ptr<const Roster> roster,
                    std::span<const std::uint8_t> frame, std::string_view except_user,
                    std::uint64_t except_session);
  void push(PartitionId partition, std::span<const std::string_view> users,
            std::span<const std::uint8_t> frame, std::string_view except_user,
            std::uint64_t except_session, bool deliver = false) {
    push(
        partition, users, [](std::string_view user) { return user; }, frame, except_user,
        except_session, deliver);
  }

  // Sends what `partition`'s applies held, in order; or drops it when `send` is false (the
  // commands' writes failed).
  void release(PartitionId partition, bool send);

 private:
  // One held push: views into its partition's arenas, by offsets.
  struct Held {
    std::size_t frame_begin, frame_end;    // in frames
    std::size_t users_begin, users_end;    // in name_ends
    std::size_t names_begin;               // where the first user's id starts in names
    std::size_t roster;                    // in rosters, or no_roster: the users are above
    std::size_t except_begin, except_end;  // in names
    std::uint64_t except_session;
    bool deliver;
  };
  // What one partition holds, in arenas kept from one command to the next (a push allocates
  // nothing once they have grown), released when they grew beyond retained_bytes.
  struct Pending {
    std::vector<std::uint8_t> frames;
    std::string names;
    std::vector<std::size_t> name_ends;  // where each user's id ends in names
    std::vector<Held> pushes;
    std::vector<std::shared_ptr<const Roster>> rosters;
    std::vector<std::string_view> users;  // scratch for release()
  };
  static constexpr std::size_t retained_bytes = 256 * 1024;
  static constexpr std::size_t no_roster = SIZE_MAX;

  // Holds one push; `users` empty when `roster` is given.
  template <class Range, class UserOf>
  void hold(PartitionId partition, const Range& users, UserOf user_of,
            std::shared_ptr<const Roster> roster, std::span<const std::uint8_t> frame,
            std::string_view except_user, std::uint64_t except_session, bool deliver);

  // Bounded: a partition holds the pushes of one command between apply and release, and a
  // command pushes to at most a group's members once per added member.
  Reach& reach_;
  Counters& counters_;
  bool hold_ = false;
  std::vector<Pending> pending_;  // by partition
};

template <class Range, class UserOf>
void Events::push(PartitionId partition, const Range& users, UserOf user_of,
                  std::span<const std::uint8_t> frame, std::string_view except_user,
                  std::uint64_t except_session, bool deliver) {
  if (!hold_) {
    std::size_t pushed = reach_.push_each(users, user_of, frame, except_user, except_session);
    if (deliver) Counters::bump(counters_.messages_pushed, pushed);
    return;
  }
  hold(partition, users, user_of, nullptr, frame, except_user, except_session, deliver);
}

template <class Range, class UserOf>
void Events::hold(PartitionId partition, const Range& users, UserOf user_of,
                  std::shared_ptr<const Roster> roster, std::span<const std::uint8_t> frame,
                  std::string_view except_user, std::uint64_t except_session, bool deliver) {
  Pending& pending = pending_[partition];
  Held held;
  held.frame_begin = pending.frames.size();
  pending.frames.insert(pending.frames.end(), frame.begin(), frame.end());
  held.frame_end = pending.frames.size();
  held.users_begin = pending.name_ends.size();
  held.names_begin = pending.names.size();
  for (const auto& item : users) {
    pending.names.append(user_of(item));
    pending.name_ends.push_back(pending.names.size());
  }
  held.users_end = pending.name_ends.size();
  held.except_begin = pending.names.size();
  pending.names.append(except_user);
  held.except_end = pending.names.size();
  held.except_session = except_session;
  held.roster = no_roster;
  if (roster) {
    held.roster = pending.rosters.size();
    pending.rosters.push_back(std::move(roster));
  }
  held.deliver = deliver;
  pending.pushes.push_back(held);
}

}  // namespace qim::service
