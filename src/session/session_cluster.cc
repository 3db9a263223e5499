// Cluster routing of a logged-in session's requests (DESIGN §7). A request whose key (a
// conversation, a friendship, a group) lives at another node is forwarded there whole and its
// answer relayed; one that may wait for other nodes (gathers, checks of users homed elsewhere)
// runs on the blocking pool; the rest runs here as on a single node.
#include "qim/ids.h"
#include "session/detached.h"
#include "session/session.h"

namespace qim::session {
namespace {

std::string pair_key(std::string_view caller, const flatbuffers::String* other) {
  std::string_view user = proto::view(other);
  if (!is_valid_id(user) || user == caller) return {};
  return direct_conversation(caller, user);
}

std::string group_key(const flatbuffers::String* group) {
  std::string_view id = proto::view(group);
  if (!is_valid_id(id)) return {};
  return group_conversation(id);
}

std::string conversation_key(const flatbuffers::String* conversation) {
  std::string_view id = proto::view(conversation);
  if (!parse_conversation(id)) return {};
  return std::string(id);
}

// The requests that spend the session's write budget (their handlers take it when they run in
// the session; when they run elsewhere, it is taken before they leave).
bool spends_write_budget(wire::Body type) {
  using wire::Body;
  switch (type) {
    case Body::Send:
    case Body::FriendRequest:
    case Body::FriendAccept:
    case Body::FriendDecline:
    case Body::FriendRemove:
    case Body::GroupCreate:
    case Body::GroupAdd:
    case Body::GroupRemove:
    case Body::GroupSetRole:
    case Body::GroupLeave:
    case Body::GroupDissolve:
      return true;
    default:
      return false;
  }
}

}  // namespace

Session::Route Session::route_of(const wire::Envelope& envelope,
                                 const route::Placement& placement) const {
  auto elsewhere = [&placement](std::string_view key) { return !placement.is_local(key); };
  using wire::Body;
  switch (envelope.body_type()) {
    case Body::Send: {
      const auto* send = envelope.body_as_Send();
      if (send->to_group() != nullptr && send->to_user() == nullptr) {
        return {group_key(send->to_group()), false};
      }
      if (send->to_user() != nullptr && send->to_group() == nullptr) {
        // A direct message to a user homed elsewhere may look the user up there (unless the
        // cluster already knows the user exists).
        std::string key = pair_key(user_, send->to_user());
        std::string_view to = proto::view(send->to_user());
        service::ClusterQueries* cluster = service_.cluster();
        bool blocking =
            !key.empty() && elsewhere(to) && !(cluster != nullptr && cluster->known_user(to));
        return {std::move(key), blocking};
      }
      return {};
    }
    case Body::Pull:
      return {conversation_key(envelope.body_as_Pull()->conversation()), false};
    case Body::History:
      return {conversation_key(envelope.body_as_History()->conversation()), false};
    case Body::Ack: {
      // The cursor is the caller's (here); the head may have to be asked for.
      std::string key = conversation_key(envelope.body_as_Ack()->conversation());
      return {{}, !key.empty() && elsewhere(key)};
    }
    case Body::Sync:
    case Body::FriendList:
    case Body::MyGroups:
      return {{}, true};
    case Body::FriendRequest:
      return {pair_key(user_, envelope.body_as_FriendRequest()->user()), true};
    case Body::FriendAccept:
      return {pair_key(user_, envelope.body_as_FriendAccept()->user()), true};
    case Body::FriendDecline:
      return {pair_key(user_, envelope.body_as_FriendDecline()->user()), true};
    case Body::FriendRemove:
      return {pair_key(user_, envelope.body_as_FriendRemove()->user()), true};
    case Body::GroupCreate:
      return {group_key(envelope.body_as_GroupCreate()->group()), true};
    case Body::GroupAdd:
      return {group_key(envelope.body_as_GroupAdd()->group()), true};
    case Body::GroupRemove:
      return {group_key(envelope.body_as_GroupRemove()->group()), true};
    case Body::GroupSetRole:
      return {group_key(envelope.body_as_GroupSetRole()->group()), true};
    case Body::GroupLeave:
      return {group_key(envelope.body_as_GroupLeave()->group()), true};
    case Body::GroupDissolve:
      return {group_key(envelope.body_as_GroupDissolve()->group()), true};
    case Body::GroupMembers:
      return {group_key(envelope.body_as_GroupMembers()->group()), true};
    default:
      return {};
  }
}

bool Session::routed_elsewhere(std::uint32_t req_id, const wire::Envelope& envelope) {
  // One placement for the whole decision (and nothing but this snapshot on a single node).
  auto placement = service_.cluster_placement();
  if (!placement) return false;
  Route route = route_of(envelope, *placement);
  bool spends = !detached_ && spends_write_budget(envelope.body_type());
  if (!route.key.empty()) {
    if (const route::NodeInfo* home = &placement->home_of(route.key);
        home->name != placement->self_name()) {
      if (spends && !take_write_budget(req_id)) return true;
      if (!home->up) {
        send_error(
            req_id, errc::unavailable,
            "the home of this request's data (node " + home->name + ") is down; retry later");
      } else if (detached_) {
        // Sent here by a node with another view of the ring: never bounce it on.
        send_error(req_id, errc::unavailable,
                   "this node is not the home of the request's data (the cluster is changing); "
                   "retry shortly");
      } else {
        forward(req_id, home->name);
      }
      return true;
    }
    if (!service_.ready(route.key)) {
      send_error(req_id, errc::unavailable,
                 "the request's data is being handed over to this node; retry shortly");
      return true;
    }
  }
  // A write that could run here still waits behind this session's requests on the pool, so
  // that one session's writes keep their order (whether a direct message may block depends on
  // what the cluster knows, which changes between two sends).
  bool behind = spends && blocking_busy_;
  if ((!route.blocking && !behind) || detached_) return false;
  if (spends && !take_write_budget(req_id)) return true;
  if (blocking_queue_.size() >= max_queued_blocking) {
    send_error(req_id, errc::rate_limited, "too many requests waiting on this session; slow down");
    return true;
  }
  blocking_queue_.push_back(
      Queued{req_id, std::vector<std::uint8_t>(current_payload_.begin(), current_payload_.end())});
  if (!blocking_busy_) run_next_blocking();
  return true;
}

void Session::forward(std::uint32_t req_id, const std::string& node) {
  service::ClusterQueries* cluster = service_.cluster();
  if (cluster == nullptr)
    return send_error(req_id, errc::unavailable, "no route to the data's home");
  auto complete = begin_remote(req_id);
  if (!complete) return;
  // The connection, and so this Session, lives until `complete` has been called.
  cluster->forward(node, caller(), current_payload_,
                   [this, req_id, complete](service::Result<std::vector<std::uint8_t>> reply) {
                     complete([this, req_id, reply = std::move(reply)] {
                       if (state_ == State::closing) return;
                       if (reply.ok()) {
                         send_frame(reply.value);
                       } else {
                         send_error(req_id, reply.error);
                       }
                     });
                   });
}

Connection::Completion Session::begin_remote(std::uint32_t req_id, bool bounded) {
  if (bounded && remote_in_flight_ >= max_remote_in_flight) {
    send_error(req_id, errc::rate_limited,
               "too many requests are waiting for other nodes; wait for their answers");
    return {};
  }
  auto complete = connection_.begin_async();
  if (!complete) return {};
  ++remote_in_flight_;
  return [this, complete = std::move(complete)](std::function<void()> then) {
    // The continuation runs only while this Session is alive.
    complete([this, then = std::move(then)] {
      --remote_in_flight_;
      then();
    });
  };
}

void Session::run_next_blocking() {
  if (blocking_queue_.empty() || state_ == State::closing) {
    blocking_busy_ = false;
    return;
  }
  blocking_busy_ = true;
  auto request = std::make_shared<Queued>(std::move(blocking_queue_.front()));
  blocking_queue_.pop_front();
  using Frame = std::vector<std::uint8_t>;
  auto outcome = std::make_shared<AsyncReply<Frame>>();
  service::ImService& service = service_;
  connection_.run_blocking(
      [&service, request, outcome, user = user_, device = device_, id = session_id_] {
        DetachedServer(service).serve(
            service::Caller{user, device, id}, request->payload,
            [outcome](Frame frame) { outcome->deliver(std::move(frame)); });
      },
      [this, outcome] {
        // The answer came on the pool (as it does at once with the inline proposer), or comes
        // later from whoever applies the request's command.
        auto ready = outcome->take_or([this]() -> std::function<void(Frame)> {
          auto complete = connection_.begin_async();
          if (!complete) return {};
          return [this, complete = std::move(complete)](Frame frame) {
            complete([this, frame = std::move(frame)] {
              if (state_ != State::closing) send_frame(frame);
              run_next_blocking();
            });
          };
        });
        if (!ready) return;
        if (state_ != State::closing) send_frame(*ready);
        run_next_blocking();
      });
}

}  // namespace qim::session
