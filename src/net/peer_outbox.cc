#include "net/peer_outbox.h"

#include <utility>

namespace qim::net {

namespace {

using peer_wire::PeerKind;

// A builder that grew past this for one batch gives its memory back once the batch is closed,
// so an idle outbox holds little whatever burst it carried.
constexpr std::size_t retained_builder_bytes = 256 * 1024;

void finish_into(proto::PeerFrameBuilder& builder, std::vector<std::uint8_t> payload,
                 std::vector<std::vector<std::uint8_t>>& out) {
  out.push_back(std::move(payload));
  if (builder.fbb().GetSize() > retained_builder_bytes) {
    builder.fbb().Reset();  // frees the buffer
  } else {
    builder.reset();
  }
}

}  // namespace

PeerOutbox::PeerOutbox(PeerOutboxLimits limits, std::uint64_t sender_epoch)
    : limits_(limits), sender_epoch_(sender_epoch), pushes_(4096), forwards_(4096) {}

std::size_t PeerOutbox::bytes_locked() {
  return closed_push_bytes_ + closed_forward_bytes_ + pushes_.fbb().GetSize() +
         forwards_.fbb().GetSize();
}

PeerOutbox::Added PeerOutbox::add_push(std::span<const std::uint8_t> frame,
                                       std::span<const std::string> users,
                                       std::string_view except_user, std::uint64_t except_session,
                                       bool forwarded) {
  std::lock_guard lock(mutex_);
  bool first = push_offsets_.empty() && closed_pushes_.messages.empty();
  if (!first && bytes_locked() >= limits_.max_bytes) {
    // The open batch (if any) closes with a later number: the receiver sees the gap.
    close_pushes();
    ++last_number_;
    return Added::refused;
  }
  auto& fbb = pushes_.fbb();
  auto bytes = fbb.CreateVector(frame.data(), frame.size());
  scratch_.clear();
  for (const std::string& user : users)
    scratch_.push_back(fbb.CreateString(user));
  auto names = fbb.CreateVector(scratch_);
  auto except = fbb.CreateString(except_user.data(), except_user.size());
  push_offsets_.push_back(
      peer_wire::CreatePushBatch(fbb, bytes, names, except, except_session, forwarded));
  if (fbb.GetSize() >= limits_.batch_bytes) close_pushes();
  return first ? Added::first : Added::queued;
}

bool PeerOutbox::skip_push() {
  std::lock_guard lock(mutex_);
  close_pushes();
  ++last_number_;
  return !std::exchange(skipped_since_take_, true);
}

PeerOutbox::Added PeerOutbox::add_forward(const service::Caller& caller,
                                          std::span<const std::uint8_t> request,
                                          std::size_t reply_estimate, ForwardDone&& done) {
  std::lock_guard lock(mutex_);
  bool first = queued_forwards_ == 0;
  if (!first && (queued_forwards_ >= limits_.max_forwards || bytes_locked() >= limits_.max_bytes)) {
    return Added::refused;
  }
  if (!forward_offsets_.empty() &&
      (forward_offsets_.size() >= limits_.batch_forwards ||
       forwards_.fbb().GetSize() + request.size() > limits_.batch_bytes ||
       forward_reply_estimate_ + reply_estimate > limits_.reply_budget_bytes)) {
    close_forwards();
  }
  auto& fbb = forwards_.fbb();
  auto user = fbb.CreateString(caller.user);
  auto device = fbb.CreateString(caller.device);
  // 8-byte aligned in the payload (which the receiver holds 8-byte aligned), so the receiver
  // can verify the client Envelope where it lies.
  fbb.ForceVectorAlignment(request.size(), sizeof(std::uint8_t), 8);
  auto bytes = fbb.CreateVector(request.data(), request.size());
  forward_offsets_.push_back(peer_wire::CreateForward(fbb, user, device, caller.session_id, bytes));
  forward_done_.push_back(std::move(done));
  forward_reply_estimate_ += reply_estimate;
  ++queued_forwards_;
  return first ? Added::first : Added::queued;
}

void PeerOutbox::close_pushes() {
  if (push_offsets_.empty()) return;
  auto& fbb = pushes_.fbb();
  auto vector = fbb.CreateVector(push_offsets_);
  auto payload = pushes_.finish_owned(
      0, PeerKind::Oneway,
      peer_wire::CreatePushBatches(fbb, vector, sender_epoch_, ++last_number_));
  closed_push_bytes_ += payload.size();
  closed_pushes_.pushes_in.push_back(push_offsets_.size());
  push_offsets_.clear();
  finish_into(pushes_, std::move(payload), closed_pushes_.messages);
}

void PeerOutbox::close_forwards() {
  if (forward_offsets_.empty()) return;
  auto& fbb = forwards_.fbb();
  auto vector = fbb.CreateVector(forward_offsets_);
  auto payload =
      forwards_.finish_owned(0, PeerKind::Request, peer_wire::CreateForwardBatch(fbb, vector));
  closed_forward_bytes_ += payload.size();
  forward_offsets_.clear();
  forward_reply_estimate_ = 0;
  std::vector<std::vector<std::uint8_t>> one;
  finish_into(forwards_, std::move(payload), one);
  closed_forwards_.push_back(ForwardBatch{std::move(one.front()), std::move(forward_done_)});
  forward_done_.clear();
}

PeerOutbox::Pushes PeerOutbox::take_pushes() {
  std::lock_guard lock(mutex_);
  close_pushes();
  skipped_since_take_ = false;
  Pushes taken = std::move(closed_pushes_);
  taken.last_number = last_number_;
  closed_pushes_ = Pushes();
  closed_push_bytes_ = 0;
  return taken;
}

std::vector<PeerOutbox::ForwardBatch> PeerOutbox::take_forwards() {
  std::lock_guard lock(mutex_);
  close_forwards();
  std::vector<ForwardBatch> taken = std::move(closed_forwards_);
  closed_forwards_.clear();
  closed_forward_bytes_ = 0;
  queued_forwards_ = 0;
  return taken;
}

bool PeerOutbox::has_forwards() const {
  std::lock_guard lock(mutex_);
  return queued_forwards_ != 0;
}

void PeerOutbox::answer(ForwardBatch& batch, const peer_wire::ForwardBatchResult* result,
                        const Error& failure) {
  using R = service::Result<std::vector<std::uint8_t>>;
  const auto* results = result != nullptr ? result->results() : nullptr;
  for (std::size_t i = 0; i < batch.done.size(); ++i) {
    ForwardDone& done = batch.done[i];
    if (results == nullptr || i >= results->size()) {
      done(R::failure(failure.code, failure.message));
      continue;
    }
    auto frame = proto::view(results->Get(static_cast<flatbuffers::uoffset_t>(i))->frame());
    if (frame.size() < 8) {
      done(R::failure(errc::internal, "the home of this request's data sent no answer"));
      continue;
    }
    done(R::success(std::vector<std::uint8_t>(frame.begin(), frame.end())));
  }
}

}  // namespace qim::net
