#include "service/im_service.h"

#include <algorithm>

#include "auth/password.h"
#include "proto/frame.h"
#include "qim/ids.h"
#include "route/moves.h"
#include "service/keys.h"
#include "service/push_frames.h"
#include "service/records.h"

namespace qim::service {

inline constexpr std::uint32_t default_online_page = 100;

ImService::ImService(store::Kv& kv, const core::Clock& clock, core::Logger& logger, Options options)
    : kv_(kv),
      clock_(clock),
      logger_(logger),
      options_(std::move(options)),
      accounts_(kv, clock, options_),
      reach_(registry_, accounts_),
      conversations_(kv, clock, reach_, options_, counters_),
      friends_(kv, clock, reach_, options_),
      groups_(kv, clock, reach_, conversations_, options_) {
  if (!auth::initialize()) logger_.error("service", "libsodium failed to initialise");
}

std::uint64_t ImService::attach(session::Connection& connection) {
  return registry_.attach(connection);
}

void ImService::detach(std::uint64_t session_id, std::string_view user) {
  if (!user.empty()) take_offline(session_id, user);
  registry_.detach(session_id);
}

void ImService::bring_online(const Caller& caller, session::Connection& connection) {
  auto kick = proto::make_error_frame(0, errc::kicked, "replaced by a newer login of this device");
  std::lock_guard lock(presence_locks_.mutex_for(caller.user));
  if (registry_.add(caller.user, caller.device, caller.session_id, connection, kick)) {
    announce(caller.user, true);
  }
}

void ImService::take_offline(std::uint64_t session_id, std::string_view user) {
  std::lock_guard lock(presence_locks_.mutex_for(user));
  if (registry_.remove(user, session_id)) announce(user, false);
}

void ImService::announce(std::string_view user, bool online) {
  // In a cluster a user's friends are gathered from every node, which may wait: announcements
  // run one at a time off the I/O threads, in the order they were made (callers hold the
  // user's presence stripe, so one user's come in order).
  if (reach_.cluster_placement()) {
    cluster_->run_serially(
        [this, user = std::string(user), online] { friends_.announce_presence(user, online); });
  } else {
    friends_.announce_presence(user, online);
  }
}

void ImService::close_all_sessions(errc code, std::string_view message) {
  registry_.close_all(proto::make_error_frame(0, code, message));
}

void ImService::use_cluster(ClusterQueries& cluster) {
  cluster_ = &cluster;
  if (placement_source_ != nullptr) reach_.use_cluster(*placement_source_, cluster);
}

std::optional<route::NodeInfo> ImService::home_elsewhere(std::string_view key) const {
  if (placement_source_ == nullptr) return std::nullopt;
  auto placement = placement_source_->placement();
  const route::NodeInfo& home = placement->home_of(key);
  if (home.name == placement->self_name()) return std::nullopt;
  return home;
}

bool ImService::ready(std::string_view key) const {
  return placement_source_ == nullptr || placement_source_->ready(key);
}

UserTally ImService::tally_here(std::string_view user) {
  UserTally tally;
  std::string value;
  if (!kv_.get(store::Column::accounts, keys::account(user), value)) {
    tally.exists = true;
    AccountRecord account;
    tally.disabled = decode(value, account) && account.disabled;
  }
  auto friends = friends_.count_here(user, options_.max_friends + 1);
  if (friends.ok()) tally.friends = static_cast<std::uint32_t>(friends.value);
  auto groups = groups_.count_here(user, options_.max_groups_per_user + 1);
  if (groups.ok()) tally.groups = static_cast<std::uint32_t>(groups.value);
  return tally;
}

Result<UserParts> ImService::parts_here(std::string_view user, UserPart part) {
  using R = Result<UserParts>;
  UserParts parts;
  switch (part) {
    case UserPart::conversations: {
      auto states = conversations_.sync_here(user);
      if (!states.ok()) return R::failure(std::move(states.error));
      parts.conversations = std::move(states.value);
      break;
    }
    case UserPart::friends: {
      auto entries = friends_.list_here(user);
      if (!entries.ok()) return R::failure(std::move(entries.error));
      parts.friends = std::move(entries.value);
      break;
    }
    case UserPart::groups: {
      auto infos = groups_.my_groups_here(user);
      if (!infos.ok()) return R::failure(std::move(infos.error));
      parts.groups = std::move(infos.value);
      break;
    }
  }
  return R::success(std::move(parts));
}

Result<ConversationState> ImService::conversation_head_here(std::string_view user,
                                                            std::string_view conversation) {
  return conversations_.head_here(user, conversation);
}

std::vector<std::string> ImService::online_among(std::span<const std::string> users) const {
  std::vector<std::string> online;
  for (const std::string& user : users) {
    if (registry_.is_online(user)) online.push_back(user);
  }
  return online;
}

void ImService::forget_cached(std::string_view placement_key) {
  // User keys have nothing cached; conversation ids always contain ':'.
  if (placement_key.find(':') != std::string_view::npos) conversations_.forget(placement_key);
}

std::size_t ImService::push_here(std::span<const std::uint8_t> frame, const PushTarget& target) {
  std::size_t pushed = 0;
  for (const std::string& user : target.users) {
    pushed += registry_.push(user, frame, user == target.except_user ? target.except_session : 0);
  }
  Counters::bump(counters_.messages_pushed, pushed);
  return pushed;
}

std::size_t ImService::push_to_everyone_here(std::span<const std::uint8_t> frame) {
  std::size_t pushed = 0;
  for (const std::string& user : registry_.online_users())
    pushed += registry_.push(user, frame);
  return pushed;
}

std::size_t ImService::redirect_moved_sessions(
    const std::function<bool(std::string_view user)>& ready) {
  if (placement_source_ == nullptr) return 0;
  auto placement = placement_source_->placement();
  auto moves = route::sessions_to_move(*placement, registry_.online_users());
  // Never toward a node that is down: the client could not log in there.
  std::erase_if(moves, [&ready](const route::SessionMove& move) {
    return !move.new_home->up || !ready(move.user);
  });
  proto::FrameBuilder builder(256);
  for (const route::SessionMove& move : moves) {
    auto redirect = encode_redirect(builder, 0, *move.new_home);
    std::lock_guard lock(presence_locks_.mutex_for(move.user));
    if (registry_.kick_others(move.user, 0, redirect) > 0) {
      announce(move.user, false);
    }
  }
  return moves.size();
}

Error ImService::validate_registration(std::string_view user, std::string_view password) {
  return Accounts::validate_registration(user, password);
}

Error ImService::validate_login(const LoginRequest& request) {
  return Accounts::validate_login(request);
}

Error ImService::register_account(std::string_view user, std::string_view password) {
  return accounts_.register_account(user, password);
}

Result<LoginSuccess> ImService::login(const LoginRequest& request) {
  return accounts_.login(request);
}

Error ImService::logout(const Caller& caller, bool all_devices,
                        const auth::TokenDigest& token_digest) {
  if (!all_devices) return accounts_.revoke_token(caller.user, token_digest);
  if (Error error = accounts_.revoke_all_tokens(caller.user)) return error;
  auto kick = proto::make_error_frame(0, errc::kicked, "logged out on all devices");
  registry_.kick_others(caller.user, caller.session_id, kick);
  return {};
}

Error ImService::change_password(const Caller& caller, std::string_view old_password,
                                 std::string_view new_password, const auth::TokenDigest& keep,
                                 std::string_view remote_host) {
  return accounts_.change_password(caller.user, old_password, new_password, keep, remote_host);
}

Error ImService::set_account_disabled(std::string_view user, bool disabled) {
  if (Error error = accounts_.set_disabled(user, disabled)) return error;
  if (disabled) {
    auto kick = proto::make_error_frame(0, errc::kicked, "the account was disabled");
    std::lock_guard lock(presence_locks_.mutex_for(user));
    if (registry_.kick_others(user, 0, kick) > 0) announce(user, false);
  }
  return {};
}

Result<SendResult> ImService::send(const Caller& caller, const SendRequest& request) {
  using R = Result<SendResult>;
  if (request.to_user.empty() == request.to_group.empty()) {
    return R::failure(errc::invalid_argument, "to_user/to_group: give exactly one");
  }
  if (request.client_msg_id == 0) {
    return R::failure(errc::invalid_argument, "client_msg_id: must be non-zero");
  }
  if (request.body.empty()) return R::failure(errc::invalid_argument, "body: empty");
  if (request.body.size() > options_.max_body_bytes) {
    return R::failure(errc::limit_exceeded, "body: " + std::to_string(request.body.size()) +
                                                " bytes, at most " +
                                                std::to_string(options_.max_body_bytes));
  }
  if (!request.to_group.empty()) {
    if (!is_valid_id(request.to_group)) {
      return R::failure(errc::invalid_argument, "to_group: not a valid group id");
    }
    return conversations_.append_group(caller, request.to_group, request.client_msg_id,
                                       request.body);
  }
  if (!is_valid_id(request.to_user)) {
    return R::failure(errc::invalid_argument, "to_user: not a valid user id");
  }
  if (request.to_user == caller.user) {
    return R::failure(errc::invalid_argument, "to_user: cannot message yourself");
  }
  bool accepted_friend = false;
  if (options_.dm_policy == DmPolicy::friends) {
    auto state = friends_.state(caller.user, request.to_user);
    if (!state.ok()) return R::failure(std::move(state.error));
    accepted_friend = state.value == FriendState::accepted;
  }
  // An accepted friend exists; anyone else is looked up.
  if (!accepted_friend) {
    Error error = reach_.exists(request.to_user);
    if (error.code == errc::not_found) {
      return R::failure(errc::not_found, "to_user: no such user");
    }
    if (error) return R::failure(std::move(error));
    if (options_.dm_policy == DmPolicy::friends) {
      return R::failure(errc::not_friends, "to_user: not your friend (the dm policy is friends)");
    }
  }
  return conversations_.append_direct(caller, request.to_user, request.client_msg_id, request.body);
}

Error ImService::ack(const Caller& caller, std::string_view conversation, std::uint64_t seq) {
  return conversations_.ack(caller, conversation, seq);
}

Result<std::vector<ConversationState>> ImService::sync(const Caller& caller) {
  return conversations_.sync(caller);
}

Result<MessagePage> ImService::pull(const Caller& caller, std::string_view conversation,
                                    std::uint64_t after_seq, std::uint32_t limit) {
  return conversations_.pull(caller, conversation, after_seq, limit);
}

Result<MessagePage> ImService::history(const Caller& caller, std::string_view conversation,
                                       std::uint64_t before_seq, std::uint32_t limit) {
  return conversations_.history(caller, conversation, before_seq, limit);
}

std::size_t ImService::prune_dedup(std::int64_t now_ms) {
  return conversations_.prune_dedup(now_ms);
}

std::uint32_t ImService::online_page_limit(std::uint32_t requested) const {
  std::uint32_t page = requested == 0 ? default_online_page : requested;
  return std::min(page, std::max<std::uint32_t>(1, options_.max_online_page));
}

OnlinePage ImService::online_users(std::string_view after, std::uint32_t limit) const {
  return registry_.online_page(after, online_page_limit(limit));
}

ImService::Stats ImService::stats() const {
  return Stats{registry_.session_count(),
               registry_.users_online(),
               counters_.messages_stored.load(std::memory_order_relaxed),
               counters_.messages_pushed.load(std::memory_order_relaxed),
               counters_.requests.load(std::memory_order_relaxed),
               kv_.approximate_size_bytes()};
}

}  // namespace qim::service
