#include "command_help.h"

namespace qim::cli {
namespace {

constexpr CommandHelp table[] = {
    {"register <user> <password>  |  register -u <user> -p <password>", "create an account"},
    {"login <user> [<password>]  |  login -u <user> [-p <password>]  |  login -u <user> -t "
     "<token>",
     "log in (then shows offline messages); without a password: QIM_PASSWORD, or it asks"},
    {"logout [--all]", "end this session (--all: every device)"},
    {"passwd [<old> <new>]",
     "change the password (asks for both when not given); "
     "signs out your other devices"},
    {"fadd <user>", "send a friend request"},
    {"faccept <user>", "accept a friend request"},
    {"fdecline <user>", "decline a friend request"},
    {"fdel <user>", "remove a friend"},
    {"fls", "list friends and requests"},
    {"gcreate <group> [-n name] [-us u1,u2]", "create a group"},
    {"gls -g <group>", "list a group's members"},
    {"gpush -g <group> -us <u1,u2,...>", "add members to a group"},
    {"gkick -g <group> -u <user>", "remove a member"},
    {"gadmin -g <group> -u <user> [--off]", "make a member admin (or not)"},
    {"gleave -g <group>", "leave a group"},
    {"gdissolve -g <group>", "dissolve a group (owner)"},
    {"groups", "list my groups"},
    {"send -r <user> -m <text>", "send a direct message (the rest of the line is the text)"},
    {"send -g <group> -m <text>", "send to a group"},
    {"<user>;;<text>", "quick direct message"},
    {"history <user|#group|-g group|conversation> [--before seq] [--limit n]",
     "page back (marks what it shows as read)"},
    {":c <user|#group>  |  /query <user|#group>",
     "talk in a conversation: shows what is unread, then plain lines go there and commands "
     "start with / (/fls); //text sends a line starting with /"},
    {":c  |  /part", "leave the conversation"},
    {"convs", "conversations with unread counts and the last message, most recent first"},
    {"whoami", "user, node, device and whether the connection is TLS"},
    {"clear", "clear the screen"},
    {"sync", "list conversations with head and read seqs"},
    {"olu | :olu [after] [limit]", "online users: count and a page"},
    {"wait <msg|friend|presence|group|reconnected|caught-up|disconnected|redirected> "
     "[key=value...] [count=N] [timeout_ms=T]",
     "block until N matching events arrived (keys: from, conv, text, user, group, kind)"},
    {"ping", "round trip to the server"},
    {"help [command] | :all", "this list, or one command's usage"},
    {":q | quit | exit", "leave"},
};

}  // namespace

std::span<const CommandHelp> command_help() {
  return table;
}

bool help_matches(std::string_view usage, std::string_view wanted) {
  // A command's entries: those whose usage starts with it or names it after a '|'.
  if (wanted.empty()) return true;
  for (std::size_t at = 0; at < usage.size();) {
    std::size_t begin = usage.find_first_not_of(" |", at);
    if (begin == std::string_view::npos) break;
    std::string_view word = usage.substr(begin, usage.find_first_of(" |", begin) - begin);
    if (word == wanted) return true;
    std::size_t bar = usage.find('|', begin);
    if (bar == std::string_view::npos) break;
    at = bar + 1;
  }
  return false;
}

}  // namespace qim::cli
