#include "qim/ids.h"

namespace qim {

bool is_valid_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > max_id_length) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_valid_device(std::string_view device) noexcept {
  if (device.empty() || device.size() > max_device_length) return false;
  for (char c : device) {
    if (c <= ' ' || c > '~' || c == ':') return false;
  }
  return true;
}

std::string direct_conversation(std::string_view a, std::string_view b) {
  if (b < a) std::swap(a, b);
  std::string id;
  id.reserve(4 + a.size() + b.size());
  id.append("d:").append(a).append(":").append(b);
  return id;
}

std::string group_conversation(std::string_view group) {
  std::string id;
  id.reserve(2 + group.size());
  id.append("g:").append(group);
  return id;
}

std::optional<ConversationRef> parse_conversation(std::string_view conversation) {
  if (conversation.size() < 3 || conversation[1] != ':') return std::nullopt;
  std::string_view rest = conversation.substr(2);
  if (conversation[0] == 'g') {
    if (!is_valid_id(rest)) return std::nullopt;
    return ConversationRef{ConversationRef::Kind::group, std::string(rest), {}};
  }
  if (conversation[0] != 'd') return std::nullopt;
  auto colon = rest.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view a = rest.substr(0, colon), b = rest.substr(colon + 1);
  if (!is_valid_id(a) || !is_valid_id(b) || !(a < b)) return std::nullopt;
  return ConversationRef{ConversationRef::Kind::direct, std::string(a), std::string(b)};
}

}  // namespace qim
