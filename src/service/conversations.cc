#include "service/conversations.h"

#include <algorithm>

#include "qim/ids.h"
#include "service/friends.h"
#include "service/push_frames.h"

namespace qim::service {
namespace {

// Rough wire size of one message inside a MessageBatch, for keeping pages under the frame
// limit.
std::size_t wire_size(const Message& message) {
  return message.body.size() + message.sender.size() + message.sender_device.size() +
         message.conversation.size() + 64;
}

Error internal(std::string message) {
  return Error{errc::internal, std::move(message)};
}

// A prune command never examines more than this, whatever it asks for.
constexpr std::uint32_t prune_visits_cap = 100'000;

}  // namespace

Conversations::Conversations(store::Kv& kv, const Keys& keys, Proposer& proposer,
                             PartitionCaches& caches, Events& events, Reach& reach,
                             const core::Clock& clock, const Options& options, Counters& counters)
    : kv_(kv),
      keys_(keys),
      proposer_(proposer),
      caches_(caches),
      events_(events),
      reach_(reach),
      clock_(clock),
      options_(options),
      counters_(counters),
      cursors_(kv, keys, proposer),
      recent_(kv, keys) {}

std::uint32_t Conversations::page_limit(std::uint32_t requested) const {
  if (requested == 0) return std::max<std::uint32_t>(1, options_.default_page_messages);
  return std::min(requested, std::max<std::uint32_t>(1, options_.max_page_messages));
}

std::size_t Conversations::page_budget_bytes() const {
  std::size_t frame = std::max<std::size_t>(options_.max_frame_bytes, 4 * frame_margin_bytes);
  return frame - frame_margin_bytes;
}

void Conversations::append(const Caller& caller, const SendRequest& request, bool friends_only,
                           ResultDone<SendResult> done) {
  std::string conversation = request.to_group.empty()
                                 ? direct_conversation(caller.user, request.to_user)
                                 : group_conversation(request.to_group);
  Command command;
  command.kind = CommandKind::send;
  command.time_ms = static_cast<std::uint64_t>(clock_.wall_ms());
  command.user = caller.user;
  command.device = caller.device;
  command.session_id = caller.session_id;
  command.to_user = request.to_user;
  command.to_group = request.to_group;
  command.client_msg_id = request.client_msg_id;
  command.body = request.body;
  command.friends_only = friends_only;
  proposer_.propose(keys_.partition_of(conversation), encode_command(command),
                    [done = std::move(done)](ApplyResult result) {
                      if (result.error) return done(Result<SendResult>::failure(result.error));
                      if (!result.sent) {
                        return done(Result<SendResult>::failure(
                            errc::internal, "the send was applied without an outcome"));
                      }
                      done(Result<SendResult>::success(std::move(*result.sent)));
                    });
}

ApplyResult Conversations::apply_send(const ApplyContext& context) {
  const Command& command = context.command;
  auto refuse = [](errc code, std::string message) {
    return ApplyResult{Error{code, std::move(message)}, std::nullopt};
  };
  bool to_group = !command.to_group.empty();
  std::string conversation = to_group ? group_conversation(command.to_group)
                                      : direct_conversation(command.user, command.to_user);
  if (keys_.partition_of(conversation) != context.partition) {
    return refuse(errc::malformed, "command: the conversation is not in this partition");
  }
  std::shared_ptr<const Roster> roster;
  if (to_group) {
    if (Error error = caches_.roster(command.to_group, roster)) {
      if (error.code == errc::not_found) error.message = "to_group: no such group";
      return ApplyResult{std::move(error), std::nullopt};
    }
    if (!roster->find(command.user)) {
      return refuse(errc::not_member, "to_group: you are not a member");
    }
  } else if (command.friends_only) {
    auto state = Friends::read_state(kv_, keys_, command.user, command.to_user);
    if (!state.ok()) return ApplyResult{std::move(state.error), std::nullopt};
    if (state.value != FriendState::accepted) {
      return refuse(errc::not_friends, "to_user: not your friend (the dm policy is friends)");
    }
  }

  std::string value;
  Error error;
  // A direct conversation's memberships are written with its first message, and its log goes
  // with the last of them (drop_direct), so without either the conversation is empty: no retry
  // can be stored and the head is 0. Point lookups (bloom-filtered) then replace the log seek,
  // an iterator over every level, on the first message of each chat. Both are asked: a user
  // deleted and registered again has lost their membership, and the conversation goes on for
  // the other, its seqs never given twice.
  bool empty = false;
  if (roster == nullptr && !caches_.has_head(conversation)) {
    empty = true;
    for (std::string_view member : {command.user, command.to_user}) {
      error = kv_.get(store::Column::convs, keys_.conv(member, conversation), value);
      if (error && error.code != errc::not_found) {
        return refuse(errc::internal, "membership lookup failed: " + error.message);
      }
      if (!error) {
        empty = false;
        break;
      }
    }
  }
  std::uint64_t head_seq = 0;
  if (!empty) {
    if (Error head_error = caches_.head(conversation, head_seq)) {
      return ApplyResult{std::move(head_error), std::nullopt};
    }
    // A retry of a message already stored gets the original seq and is not pushed again.
    std::optional<RecentSends::Original> original;
    if (Error found = recent_.find(context.partition, conversation, head_seq, command.user,
                                   command.client_msg_id, original)) {
      return ApplyResult{std::move(found), std::nullopt};
    }
    if (original) {
      return ApplyResult{{},
                         SendResult{std::move(conversation), original->seq,
                                    original->server_time_ms, command.client_msg_id, true}};
    }
  }

  MessageView message{conversation,          head_seq + 1,    command.user, command.device,
                      command.client_msg_id, command.time_ms, command.body};
  store::WriteBatch& batch = context.batch;
  batch.put(store::Column::log, keys_.log(conversation, message.seq), encode_log_entry(message));
  recent_.appended(context.partition, conversation, command.user, command.client_msg_id,
                   message.seq, command.time_ms);
  if (!to_group && message.seq == 1) {
    // The first message of a direct conversation makes it appear in both users' Sync.
    MembershipRecord membership{std::string(command.to_user), 1, command.time_ms, command.time_ms};
    batch.put(store::Column::convs, keys_.conv(command.user, conversation), encode(membership));
    membership.peer.assign(command.user);
    batch.put(store::Column::convs, keys_.conv(command.to_user, conversation), encode(membership));
  }
  caches_.set_head(conversation, message.seq);
  Counters::bump(counters_.messages_stored);

  if (context.leader) {
    // Pushed in apply order, so every participant receives a conversation's messages in seq
    // order. Encoded once; the same bytes go to every session.
    proto::FrameBuilder builder(256 + command.body.size() + conversation.size());
    auto frame = encode_deliver(builder, message);
    if (roster) {
      events_.push_members(context.partition, std::move(roster), frame, command.user,
                           command.session_id);
    } else {
      std::string_view participants[] = {command.to_user, command.user};
      events_.push(context.partition, std::span<const std::string_view>(participants), frame,
                   command.user, command.session_id, true);
    }
  }
  return ApplyResult{{},
                     SendResult{std::move(conversation), message.seq, command.time_ms,
                                command.client_msg_id, false}};
}

void Conversations::drop_direct(PartitionId partition, std::string_view conversation,
                                store::WriteBatch& batch) {
  std::string begin = keys_.log_prefix(conversation);
  std::string end = begin;
  end.back() = static_cast<char>(end.back() + 1);  // the prefix ends with the '\0' separator
  batch.erase_range(store::Column::log, begin, end);
  caches_.forget(conversation);
  recent_.forget(partition, conversation);
}

void Conversations::written(PartitionId partition) {
  recent_.written(partition);
  caches_.heads_written(partition);
}

Error Conversations::first_readable_seq(std::string_view user, std::string_view conversation,
                                        std::uint64_t& first_seq) {
  auto ref = parse_conversation(conversation);
  if (!ref) return Error{errc::invalid_argument, "conversation: not a valid conversation id"};
  if (Error error =
          require_readable(proposer_, keys_.partition_of(conversation), "this conversation")) {
    return error;
  }
  if (ref->kind == ConversationRef::Kind::direct) {
    if (user != ref->first && user != ref->second) {
      return Error{errc::forbidden, "conversation: you are not a participant"};
    }
    first_seq = 1;
    return {};
  }
  RosterEntry entry;
  if (Error error = caches_.read_member(ref->first, user, entry)) {
    if (error.code == errc::not_found) error.message = "conversation: no such group";
    if (error.code == errc::not_member) {
      error.message = "conversation: you are not a member of the group";
    }
    return error;
  }
  first_seq = std::max<std::uint64_t>(1, entry.joined_seq);
  return {};
}

Result<MessagePage> Conversations::pull(const Caller& caller, std::string_view conversation,
                                        std::uint64_t after_seq, std::uint32_t limit) {
  using R = Result<MessagePage>;
  std::uint64_t first_seq = 1;
  if (Error error = first_readable_seq(caller.user, conversation, first_seq)) {
    return R::failure(std::move(error));
  }
  MessagePage page;
  page.conversation.assign(conversation);
  if (after_seq == UINT64_MAX) return R::success(std::move(page));
  std::uint64_t start_seq = std::max(after_seq + 1, first_seq);
  std::size_t count = page_limit(limit);
  std::size_t budget = page_budget_bytes(), used = 0;
  std::string prefix = keys_.log_prefix(conversation);
  bool corrupt = false;
  Error error = kv_.scan(store::Column::log, prefix, keys_.log(conversation, start_seq), false,
                         [&](std::string_view, std::string_view bytes) {
                           if (page.messages.size() >= count) {
                             page.more = true;
                             return false;
                           }
                           Message message;
                           if (!decode_log_entry(bytes, message)) {
                             corrupt = true;
                             return false;
                           }
                           message.conversation = page.conversation;
                           std::size_t size = wire_size(message);
                           if (!page.messages.empty() && used + size > budget) {
                             page.more = true;
                             return false;
                           }
                           used += size;
                           page.messages.push_back(std::move(message));
                           return true;
                         });
  if (error) return R::failure(internal("reading the log failed: " + error.message));
  if (corrupt) return R::failure(internal("a log entry of " + page.conversation + " is corrupted"));
  return R::success(std::move(page));
}

Result<MessagePage> Conversations::history(const Caller& caller, std::string_view conversation,
                                           std::uint64_t before_seq, std::uint32_t limit) {
  using R = Result<MessagePage>;
  std::uint64_t first_seq = 1;
  if (Error error = first_readable_seq(caller.user, conversation, first_seq)) {
    return R::failure(std::move(error));
  }
  MessagePage page;
  page.conversation.assign(conversation);
  if (before_seq != 0 && before_seq <= first_seq) return R::success(std::move(page));
  std::size_t count = page_limit(limit);
  std::size_t budget = page_budget_bytes(), used = 0;
  std::string prefix = keys_.log_prefix(conversation);
  std::string start = before_seq == 0 ? std::string() : keys_.log(conversation, before_seq);
  bool corrupt = false;
  Error error = kv_.scan(store::Column::log, prefix, start, true,
                         [&](std::string_view key, std::string_view bytes) {
                           // The log floor: retention deleted everything older.
                           if (key.size() == prefix.size()) return false;
                           auto seq = keys::log_seq(key, prefix);
                           if (!seq) {
                             corrupt = true;
                             return false;
                           }
                           if (*seq < first_seq) return false;
                           if (page.messages.size() >= count) {
                             page.more = true;
                             return false;
                           }
                           Message message;
                           if (!decode_log_entry(bytes, message)) {
                             corrupt = true;
                             return false;
                           }
                           message.conversation = page.conversation;
                           std::size_t size = wire_size(message);
                           if (!page.messages.empty() && used + size > budget) {
                             page.more = true;
                             return false;
                           }
                           used += size;
                           page.messages.push_back(std::move(message));
                           return true;
                         });
  if (error) return R::failure(internal("reading the log failed: " + error.message));
  if (corrupt) return R::failure(internal("a log entry of " + page.conversation + " is corrupted"));
  std::reverse(page.messages.begin(), page.messages.end());
  return R::success(std::move(page));
}

Result<ConversationState> Conversations::head_here(std::string_view user,
                                                   std::string_view conversation) {
  using R = Result<ConversationState>;
  ConversationState state;
  state.conversation.assign(conversation);
  if (Error error = first_readable_seq(user, conversation, state.first_seq)) {
    return R::failure(std::move(error));
  }
  if (Error error = caches_.read_head(conversation, state.head_seq)) {
    return R::failure(std::move(error));
  }
  return R::success(std::move(state));
}

void Conversations::ack(const Caller& caller, std::string_view conversation, std::uint64_t seq,
                        Done done) {
  if (!parse_conversation(conversation)) {
    return done(Error{errc::invalid_argument, "conversation: not a valid conversation id"});
  }
  PartitionId partition = keys_.partition_of(caller.user);
  if (Error error = require_readable(proposer_, partition, "your read cursors")) {
    return done(std::move(error));
  }
  // The cursor lives with the caller's account; the head with the conversation.
  auto placement = reach_.cluster_placement();
  auto state = !placement || placement->is_local(conversation)
                   ? head_here(caller.user, conversation)
                   : reach_.cluster()->conversation_head(placement->home_of(conversation).name,
                                                         caller.user, conversation);
  if (!state.ok()) return done(std::move(state.error));
  if (seq > state.value.head_seq) {
    return done(Error{errc::invalid_argument, "seq: beyond the conversation's last message"});
  }
  cursors_.raise(caller, conversation, seq, static_cast<std::uint64_t>(clock_.wall_ms()),
                 std::move(done));
}

Error Conversations::apply_ack(const ApplyContext& context) {
  const Command& command = context.command;
  if (keys_.partition_of(command.user) != context.partition) {
    return Error{errc::malformed, "command: the cursor is not in this partition"};
  }
  std::string key = keys_.cursor(command.user, command.conversation, command.device);
  std::string value;
  Error error = kv_.get(store::Column::cursors, key, value);
  if (!error) {
    std::uint64_t current = 0;
    if (!decode_cursor(value, current)) return internal("the read cursor is corrupted");
    if (current >= command.seq) return {};
  } else if (error.code != errc::not_found) {
    return internal("reading the read cursor failed: " + error.message);
  }
  if (command.seq == 0) return {};
  context.batch.put(store::Column::cursors, key, encode_cursor(command.seq));
  return {};
}

Result<std::vector<ConversationState>> Conversations::sync_here(
    std::string_view user, std::span<const PartitionId> partitions) {
  using R = Result<std::vector<ConversationState>>;
  std::vector<ConversationState> states;
  std::size_t budget = page_budget_bytes(), used = 0;
  bool corrupt = false;
  bool full = false;
  // Collected first: the store is not re-entered from inside a scan.
  for (PartitionId partition : partitions) {
    std::string prefix = keys_.convs_prefix(partition, user);
    Error error = kv_.scan(store::Column::convs, prefix, {}, false,
                           [&](std::string_view key, std::string_view bytes) {
                             MembershipRecord membership;
                             if (!decode(bytes, membership)) {
                               corrupt = true;
                               return false;
                             }
                             ConversationState state;
                             state.conversation.assign(keys::suffix(key, prefix));
                             state.first_seq = std::max<std::uint64_t>(1, membership.first_seq);
                             state.peer = std::move(membership.peer);
                             used += state.conversation.size() + state.peer.size() + 48;
                             // SyncResult has no paging: stay under the frame limit.
                             if (used > budget) {
                               full = true;
                               return false;
                             }
                             states.push_back(std::move(state));
                             return true;
                           });
    if (error) return R::failure(internal("reading conversations failed: " + error.message));
    if (corrupt) return R::failure(internal("a conversation record is corrupted"));
    if (full) break;
  }
  for (ConversationState& state : states) {
    if (Error head_error = caches_.read_head(state.conversation, state.head_seq)) {
      return R::failure(std::move(head_error));
    }
  }
  std::sort(states.begin(), states.end(),
            [](const ConversationState& a, const ConversationState& b) {
              return a.conversation < b.conversation;
            });
  return R::success(std::move(states));
}

Result<std::vector<ConversationState>> Conversations::sync(const Caller& caller) {
  using R = Result<std::vector<ConversationState>>;
  if (Error error =
          require_readable(proposer_, keys_.partition_of(caller.user), "your read cursors")) {
    return R::failure(std::move(error));
  }
  std::vector<PartitionId> here = proposer_.readable_partitions();
  auto states = sync_here(caller.user, here);
  if (!states.ok()) return states;
  auto parts = reach_.parts_elsewhere(caller.user, UserPart::conversations, here,
                                      keys_.partitions().count());
  if (!parts.ok()) return R::failure(std::move(parts.error));
  if (!parts.value.empty()) {
    for (UserParts& part : parts.value) {
      for (ConversationState& state : part.conversations)
        states.value.push_back(std::move(state));
    }
    // A conversation being handed between nodes may briefly be on both: keep the newer head.
    std::sort(states.value.begin(), states.value.end(),
              [](const ConversationState& a, const ConversationState& b) {
                return a.conversation != b.conversation ? a.conversation < b.conversation
                                                        : a.head_seq > b.head_seq;
              });
    states.value.erase(std::unique(states.value.begin(), states.value.end(),
                                   [](const ConversationState& a, const ConversationState& b) {
                                     return a.conversation == b.conversation;
                                   }),
                       states.value.end());
  }
  // The device's cursors are with the caller's account.
  for (ConversationState& state : states.value) {
    if (Error error =
            cursors_.read(caller.user, caller.device, state.conversation, state.read_seq)) {
      return R::failure(std::move(error));
    }
  }
  return states;
}

std::size_t Conversations::prune_dedup(std::int64_t now_ms) {
  std::uint64_t retention = options_.dedup_retention_ms;
  std::uint64_t now = now_ms > 0 ? static_cast<std::uint64_t>(now_ms) : 0;
  Command command;
  command.kind = CommandKind::prune_dedup;
  command.time_ms = now;
  command.cutoff_ms = now > retention ? now - retention : 0;
  command.max_visits = max_prune_visits;
  std::size_t proposed = 0;
  for (PartitionId partition : proposer_.readable_partitions()) {
    // Nothing waits for the outcome: the next prune resumes where this one stopped.
    propose(proposer_, partition, command, [](Error) {});
    ++proposed;
  }
  return proposed;
}

Error Conversations::apply_prune(const ApplyContext& context) {
  const Command& command = context.command;
  // The cursor is the partition's own record: the dedup key that is the prefix alone, which
  // sorts before every dedup record of the partition (and is skipped below).
  std::string prefix = Keys::dedup_partition(context.partition);
  std::string value, start;
  Error error = kv_.get(store::Column::dedup, prefix, value);
  if (!error) {
    // A cursor that does not decode or points elsewhere restarts from the first record.
    if (!decode_prune_cursor(value, start) || !start.starts_with(prefix)) start.clear();
  } else if (error.code != errc::not_found) {
    return internal("reading the prune cursor failed: " + error.message);
  }
  std::uint32_t max_visits = std::min(command.max_visits, prune_visits_cap);
  std::size_t visited = 0;
  std::string last_key;
  bool reached_end = true;
  error = kv_.scan(store::Column::dedup, prefix, start, false,
                   [&](std::string_view key, std::string_view bytes) {
                     if (key.size() == prefix.size()) return true;  // the cursor itself
                     if (visited == max_visits) {
                       reached_end = false;
                       return false;
                     }
                     ++visited;
                     last_key.assign(key);
                     DedupRecord record;
                     // A corrupted entry can never answer a retry; drop it too.
                     if (!decode(bytes, record) || record.server_time_ms < command.cutoff_ms) {
                       context.batch.erase(store::Column::dedup, key);
                     }
                     return true;
                   });
  if (error) return internal("scanning dedup records failed: " + error.message);
  if (reached_end) {
    context.batch.erase(store::Column::dedup, prefix);
  } else {
    // The smallest key after the last one examined.
    context.batch.put(store::Column::dedup, prefix, encode_prune_cursor(last_key + '\0'));
  }
  return {};
}

}  // namespace qim::service
