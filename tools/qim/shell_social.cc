// Friends and groups: f* and g* commands.
#include <fmt/core.h>

#include "shell.h"

namespace qim::cli {

bool Shell::cmd_group(std::string_view name, const Args& args) {
  if (name == "gcreate") {
    auto flags = parse_flags(args, {"-n", "-us", "-g"});
    if (!flags.error.empty()) return fail(name, "usage", flags.error);
    std::string group = flags.value("-g");
    if (group.empty() && flags.positional.size() == 1) group = flags.positional.front();
    if (group.empty() || flags.positional.size() > (flags.value("-g").empty() ? 1u : 0u)) {
      return usage(name);
    }
    auto members = split_list(flags.value("-us"));
    auto done = client_.group_create(group, flags.value("-n"), members);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok").add("command", "gcreate").add("group", group));
    return true;
  }
  if (name == "gls") {
    auto flags = parse_flags(args, {"-g"});
    std::string group = flags.value("-g");
    if (group.empty() && flags.positional.size() == 1) group = flags.positional.front();
    if (!flags.error.empty() || group.empty()) return usage(name);
    auto members = client_.group_members(group);
    if (!members) return fail(name, members.error());
    for (const auto& member : members->members) {
      printer_.result(Record("member")
                          .add("group", group)
                          .add("user", member.user)
                          .add("role", group_role_name(member.role))
                          .add("online", member.online)
                          .add("joined_seq", member.joined_seq));
    }
    printer_.result(Record("ok")
                        .add("command", "gls")
                        .add("group", group)
                        .add("name", members->info.name)
                        .add("owner", members->info.owner)
                        .add("count", members->members.size()));
    return true;
  }
  if (name == "gpush") {
    auto flags = parse_flags(args, {"-g", "-us"});
    auto users = split_list(flags.value("-us"));
    if (!flags.error.empty() || flags.value("-g").empty() || users.empty() ||
        !flags.positional.empty()) {
      return usage(name);
    }
    auto done = client_.group_add(flags.value("-g"), users);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok")
                        .add("command", "gpush")
                        .add("group", flags.value("-g"))
                        .add("users", join(users)));
    return true;
  }
  if (name == "gkick" || name == "gadmin") {
    auto flags = parse_flags(args, {"-g", "-u"}, {"--off"});
    if (!flags.error.empty() || flags.value("-g").empty() || flags.value("-u").empty() ||
        !flags.positional.empty() || (name == "gkick" && flags.has("--off"))) {
      return usage(name);
    }
    auto done = name == "gkick" ? client_.group_remove(flags.value("-g"), flags.value("-u"))
                                : client_.group_set_role(
                                      flags.value("-g"), flags.value("-u"),
                                      flags.has("--off") ? GroupRole::member : GroupRole::admin);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok")
                        .add("command", name)
                        .add("group", flags.value("-g"))
                        .add("user", flags.value("-u")));
    return true;
  }
  if (name == "gleave" || name == "gdissolve") {
    auto flags = parse_flags(args, {"-g"});
    std::string group = flags.value("-g");
    if (group.empty() && flags.positional.size() == 1) group = flags.positional.front();
    if (!flags.error.empty() || group.empty()) return usage(name);
    auto done = name == "gleave" ? client_.group_leave(group) : client_.group_dissolve(group);
    if (!done) return fail(name, done.error());
    printer_.result(Record("ok").add("command", name).add("group", group));
    return true;
  }
  return fail(name, "usage", fmt::format("unknown command '{}' (try :all)", name));
}

bool Shell::cmd_friend(std::string_view name, const Args& args) {
  if (name == "fls") {
    if (!args.empty()) return usage(name);
    auto friends = client_.friends();
    if (!friends) return fail(name, friends.error());
    for (const auto& entry : friends.value()) {
      printer_.result(Record("friend")
                          .add("user", entry.user)
                          .add("state", friend_state_name(entry.state))
                          .add("online", entry.online));
    }
    printer_.result(Record("ok").add("command", "fls").add("count", friends->size()));
    return true;
  }
  bool known = name == "fadd" || name == "faccept" || name == "fdecline" || name == "fdel";
  if (!known) return fail(name, "usage", fmt::format("unknown command '{}' (try :all)", name));
  if (args.size() != 1) return usage(name);
  const std::string& user = args.front().text;
  Result<void> done = name == "fadd"       ? client_.friend_request(user)
                      : name == "faccept"  ? client_.friend_accept(user)
                      : name == "fdecline" ? client_.friend_decline(user)
                                           : client_.friend_remove(user);
  if (!done) return fail(name, done.error());
  printer_.result(Record("ok").add("command", name).add("user", user));
  return true;
}

}  // namespace qim::cli
