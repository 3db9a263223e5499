#include "cluster/swim/member.h"

#include "cluster/swim/directives.h"

namespace qim::cluster::swim {

const char* to_string(MemberState state) {
  switch (state) {
    case MemberState::alive:
      return "alive";
    case MemberState::suspect:
      return "suspect";
    case MemberState::dead:
      return "dead";
    case MemberState::left:
      return "left";
  }
  return "unknown";
}

const char* to_string(EventType type) {
  switch (type) {
    case EventType::joined:
      return "joined";
    case EventType::suspect:
      return "suspect";
    case EventType::alive:
      return "alive";
    case EventType::dead:
      return "dead";
    case EventType::left:
      return "left";
    case EventType::metadata_changed:
      return "metadata_changed";
  }
  return "unknown";
}

}  // namespace qim::cluster::swim
