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
  struct Held {
    std::vector<std::uint8_t> frame;
    std::vector<std::string> users;
    std::string except_user;
    std::uint64_t except_session = 0;
    bool deliver = false;
  };
  // Bounded: a partition holds the pushes of one command between apply and release, and a
  // command pushes to at most a group's members once per added member.
  Reach& reach_;
  Counters& counters_;
  bool hold_ = false;
  std::vector<std::vector<Held>> held_;  // by partition
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
  Held& held = held_[partition].emplace_back();
  held.frame.assign(frame.begin(), frame.end());
  for (const auto& item : users)
    held.users.emplace_back(user_of(item));
  held.except_user.assign(except_user);
  held.except_session = except_session;
  held.deliver = deliver;
}

}  // namespace qim::service
