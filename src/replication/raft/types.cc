#include "replication/raft/types.h"

namespace qim::replication::raft {

const char* to_string(MessageType type) {
  switch (type) {
    case MessageType::pre_vote:
      return "pre_vote";
    case MessageType::pre_vote_response:
      return "pre_vote_response";
    case MessageType::vote:
      return "vote";
    case MessageType::vote_response:
      return "vote_response";
    case MessageType::append:
      return "append";
    case MessageType::append_response:
      return "append_response";
    case MessageType::heartbeat:
      return "heartbeat";
    case MessageType::heartbeat_response:
      return "heartbeat_response";
    case MessageType::snapshot:
      return "snapshot";
    case MessageType::timeout_now:
      return "timeout_now";
  }
  return "unknown";
}

const char* to_string(Role role) {
  switch (role) {
    case Role::follower:
      return "follower";
    case Role::pre_candidate:
      return "pre_candidate";
    case Role::candidate:
      return "candidate";
    case Role::leader:
      return "leader";
  }
  return "unknown";
}

const char* to_string(ProgressState state) {
  switch (state) {
    case ProgressState::probe:
      return "probe";
    case ProgressState::replicate:
      return "replicate";
    case ProgressState::snapshot:
      return "snapshot";
  }
  return "unknown";
}

const char* to_string(ConfigChangeKind kind) {
  switch (kind) {
    case ConfigChangeKind::add_learner:
      return "add_learner";
    case ConfigChangeKind::promote:
      return "promote";
    case ConfigChangeKind::remove:
      return "remove";
  }
  return "unknown";
}

std::string to_string(const Configuration& config) {
  std::string text = "voters{";
  for (std::size_t i = 0; i < config.voters.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(config.voters[i]);
  }
  text += "} learners{";
  for (std::size_t i = 0; i < config.learners.size(); ++i) {
    if (i > 0) text += ',';
    text += std::to_string(config.learners[i]);
  }
  text += '}';
  return text;
}

std::string to_string(const Message& message) {
  std::string text = std::to_string(message.from) + "->" + std::to_string(message.to) + " " +
                     to_string(message.type) + " term=" + std::to_string(message.term);
  switch (message.type) {
    case MessageType::append:
      text += " prev=" + std::to_string(message.index) + "/" + std::to_string(message.log_term) +
              " commit=" + std::to_string(message.commit);
      if (!message.entries.empty()) {
        text += " entries=" + std::to_string(message.entries.front().index) + ".." +
                std::to_string(message.entries.back().index);
      }
      break;
    case MessageType::append_response:
      text += " index=" + std::to_string(message.index);
      if (message.reject) {
        text += " reject hint=" + std::to_string(message.reject_hint) + "/" +
                std::to_string(message.reject_term);
      }
      break;
    case MessageType::pre_vote:
    case MessageType::vote:
      text += " last=" + std::to_string(message.index) + "/" + std::to_string(message.log_term);
      if (message.context == kCampaignTransfer) text += " transfer";
      break;
    case MessageType::pre_vote_response:
    case MessageType::vote_response:
      text += message.reject ? " rejected" : " granted";
      break;
    case MessageType::heartbeat:
      text +=
          " commit=" + std::to_string(message.commit) + " round=" + std::to_string(message.context);
      break;
    case MessageType::heartbeat_response:
      text += " round=" + std::to_string(message.context);
      break;
    case MessageType::snapshot:
      text += " snapshot=" + std::to_string(message.snapshot.index) + "/" +
              std::to_string(message.snapshot.term) + " " + to_string(message.snapshot.config);
      break;
    case MessageType::timeout_now:
      break;
  }
  return text;
}

}  // namespace qim::replication::raft
