#include "route/push_gaps.h"

namespace qim::route {

PushGaps::PushGaps(std::size_t max_senders) : max_senders_(max_senders == 0 ? 1 : max_senders) {}

PushGaps::Sender* PushGaps::find(std::string_view sender) {
  auto found = senders_.find(std::string(sender));
  if (found == senders_.end()) return nullptr;
  recency_.splice(recency_.begin(), recency_, found->second.recency);
  return &found->second;
}

PushGaps::Sender& PushGaps::add(std::string_view sender, std::uint64_t epoch, std::uint64_t next) {
  if (senders_.size() >= max_senders_) {
    senders_.erase(recency_.back());
    recency_.pop_back();
  }
  recency_.emplace_front(sender);
  Sender& added = senders_[recency_.front()];
  added.epoch = epoch;
  added.next = next;
  added.recency = recency_.begin();
  return added;
}

std::uint64_t PushGaps::expected(std::string_view sender) const {
  auto found = senders_.find(std::string(sender));
  return found == senders_.end() ? 0 : found->second.next;
}

bool PushGaps::on_batch(std::string_view sender, std::uint64_t epoch, std::uint64_t number) {
  if (number == 0) return false;
  Sender* known = find(sender);
  if (known == nullptr) {
    add(sender, epoch, number + 1);
    return false;
  }
  if (epoch < known->epoch) return false;
  if (epoch > known->epoch) {
    known->epoch = epoch;
    known->next = number + 1;
    return number != 1 ? gap() : false;
  }
  if (number < known->next) return false;
  bool lost = number > known->next;
  known->next = number + 1;
  return lost ? gap() : false;
}

bool PushGaps::on_tail(std::string_view sender, std::uint64_t epoch, std::uint64_t number) {
  Sender* known = find(sender);
  if (known == nullptr) {
    add(sender, epoch, number + 1);
    return false;
  }
  if (epoch < known->epoch) return false;
  if (epoch > known->epoch) {
    // Nothing of the new run has arrived, yet it sent (or dropped) `number` batches.
    known->epoch = epoch;
    known->next = number + 1;
    return number != 0 ? gap() : false;
  }
  if (number < known->next) return false;
  known->next = number + 1;
  return gap();
}

}  // namespace qim::route
