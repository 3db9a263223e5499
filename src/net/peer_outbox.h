#pragma once
// What this node has for one other node until the next flush to it: pushes, coalesced into
// PushBatches one-way messages, and forwarded client requests, into ForwardBatch requests
// (schemas/peer.fbs). Each item is encoded as it arrives; a flush (take()) only closes the
// open batches, so everything queued for a node between two flushes leaves as a few messages
// instead of one per item.
//
// Thread-safety: add_push() and add_forward() from any thread (pushes are made under a
// conversation's stripe: the mutex here is a leaf and nothing is called under it),
// take_pushes() and take_forwards() from the thread that sends what they return, in the order
// they return it.
// Order: take_pushes() returns the pushes, and take_forwards() the forwards, in the order they
// were added, and successive takes continue that order: a conversation's pushes stay in seq
// order and one session's forwarded requests in the order it sent them.
// Numbering (loss detection, route/push_gaps.h): each PushBatches is numbered 1, 2, 3, ... in
// the order it is closed, with the sender's epoch; a push refused because the outbox is full
// uses up a number too, so the receiver sees a gap where it was dropped.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proto/peer_frame.h"
#include "service/types.h"

namespace qim::net {

struct PeerOutboxLimits {
  // A batch is closed once its encoding reaches this size; the next item opens another.
  std::size_t batch_bytes = 1024 * 1024;
  // Forwards per ForwardBatch.
  std::size_t batch_forwards = 256;
  // The answer to a ForwardBatch is one peer frame (4 MiB at most): the answers its forwards
  // may need, as estimated by the caller of add_forward(), stay within this.
  std::size_t reply_budget_bytes = 3 * 1024 * 1024;
  // Queued and not taken yet, over all batches: beyond either bound, add_*() refuses.
  std::size_t max_bytes = 16 * 1024 * 1024;
  std::size_t max_forwards = 8 * 1024;
};

class PeerOutbox {
 public:
  using ForwardDone = std::function<void(service::Result<std::vector<std::uint8_t>>)>;

  enum class Added : std::uint8_t {
    queued,   // behind others of its kind (pushes, or forwards) not taken yet
    first,    // the only one of its kind not taken yet: the caller schedules a flush
    refused,  // the outbox is full; nothing was queued
  };

  struct Pushes {
    std::vector<std::vector<std::uint8_t>> messages;  // PushBatches envelopes, for PeerLinks::post
    std::vector<std::size_t> pushes_in;               // how many pushes each message carries
    // Every number up to this one is in `messages` or an earlier take, or was used up by a
    // refused push: once `messages` are posted, the receiver should have had them all.
    std::uint64_t last_number = 0;
  };
  struct ForwardBatch {
    std::vector<std::uint8_t> request;  // a ForwardBatch PeerEnvelope, for PeerLinks::call
    std::vector<ForwardDone> done;      // one per forward, in the batch's order
  };

  // `sender_epoch`: this node's restart epoch, sent with every PushBatches.
  explicit PeerOutbox(PeerOutboxLimits limits = {}, std::uint64_t sender_epoch = 0);
  PeerOutbox(const PeerOutbox&) = delete;
  PeerOutbox& operator=(const PeerOutbox&) = delete;

  // Queues `frame` (a whole client frame) for every session of `users` at the node, except
  // session `except_session` of `except_user`. A refused push uses up a number (see above).
  Added add_push(std::span<const std::uint8_t> frame, std::span<const std::string> users,
                 std::string_view except_user, std::uint64_t except_session,
                 bool forwarded = false);
  // A push not even queued (the node is down): uses up a number like a refused one. True when
  // it is the first such since the last take_pushes(): the caller schedules a flush, which
  // makes the number known to the tail (see node/cluster_peers.h).
  bool skip_push();
  // Queues `request` (a client Envelope) to run at the node as `caller`; `reply_estimate` is
  // the most its answer may take (bytes). `done` is moved from only when the forward was
  // queued.
  Added add_forward(const service::Caller& caller, std::span<const std::uint8_t> request,
                    std::size_t reply_estimate, ForwardDone&& done);
  // The pushes queued, in order; none is left.
  Pushes take_pushes();
  // The forwards queued, in order; none is left.
  std::vector<ForwardBatch> take_forwards();
  bool has_forwards() const;

  // Hands each forward of `batch` its answer: its frame from `result` (the verified answer
  // to batch.request), or `failure` when there is no answer (result null) or none for it.
  static void answer(ForwardBatch& batch, const peer_wire::ForwardBatchResult* result,
                     const Error& failure);

 private:
  void close_pushes();    // REQUIRES: mutex_ held
  void close_forwards();  // REQUIRES: mutex_ held
  std::size_t bytes_locked();

  const PeerOutboxLimits limits_;
  const std::uint64_t sender_epoch_;
  mutable std::mutex mutex_;
  std::uint64_t last_number_ = 0;    // GUARDED_BY(mutex_): the last PushBatches number used
  bool skipped_since_take_ = false;  // GUARDED_BY(mutex_)
  // GUARDED_BY(mutex_) below. The open batches are built in place.
  proto::PeerFrameBuilder pushes_;
  std::vector<flatbuffers::Offset<peer_wire::PushBatch>> push_offsets_;
  proto::PeerFrameBuilder forwards_;
  std::vector<flatbuffers::Offset<peer_wire::Forward>> forward_offsets_;
  std::vector<ForwardDone> forward_done_;
  std::size_t forward_reply_estimate_ = 0;
  std::vector<flatbuffers::Offset<flatbuffers::String>> scratch_;  // a push's user names
  // Batches closed since the last take of their kind.
  Pushes closed_pushes_;
  std::vector<ForwardBatch> closed_forwards_;
  std::size_t closed_push_bytes_ = 0;
  std::size_t closed_forward_bytes_ = 0;
  std::size_t queued_forwards_ = 0;
};

}  // namespace qim::net
