#pragma once
// The interactive screen: records (tools/qim/output.h) as lines for people. Pure functions of
// the record and a context, so they are tested without a terminal:
//   12:04 bob › hi alice            a message (local time from the server's timestamp)
//   12:05 alice → bob › hi bob      one of mine
//   12:06 #team carol › standup?    a group message
//   12:07 bob › hi                  in the conversation with bob (the prompt names it)
//   ✉ 12:08 carol › lunch?          a message for another conversation: a one-line notice
//   bob is online                   events as short sentences
//   ✗ you are not friends with dave — send a request first: fadd dave
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>

#include "output.h"

namespace qim::cli {

struct HumanContext {
  std::string self;         // the logged-in user ("" before login)
  bool show_token = false;  // --show-token: the login line names the session token
  std::time_t now = 0;      // for "today or not" in timestamps
  std::size_t width = 0;    // terminal columns (0: lines are neither cut nor wrapped)
};

// "bob" for d:alice:bob as alice sees it; "#team" for g:team; the id itself otherwise.
std::string conversation_name(std::string_view conversation, std::string_view self);
// "12:04" when `when` is the same day as `now`, else "2024-06-03 12:04" (both local time).
std::string clock_label(const std::tm& when, const std::tm& now);
// clock_label in the local time zone, for a server timestamp; "" for 0 (no time known).
std::string local_clock(std::uint64_t server_time_ms, std::time_t now);
// One message as people read it; `sent` says this device sent it just now.
std::string message_line(std::string_view clock, std::string_view conversation,
                         std::string_view self, std::string_view sender, std::string_view text);
// A message in the current conversation (no conversation name: the prompt has it), wrapped
// to `width` with its continuation lines under the text.
std::string conversation_line(std::string_view clock, std::string_view sender,
                              std::string_view text, std::size_t width);
// A message for another conversation: message_line on one line, cut to `width`.
std::string notice_line(std::string_view clock, std::string_view conversation,
                        std::string_view self, std::string_view sender, std::string_view text,
                        std::size_t width);
// Line breaks and control characters made visible, so one message stays one line.
std::string printable(std::string_view text);
// What to do about an error, in words ("log in first: login USER"); "" when the message says it.
std::string error_hint(std::string_view code, std::string_view command);

// The prompt while a lost session is being resumed:
// "alice: home node n3 is down — reconnecting (attempt 3, next in 4 s)> ".
std::string reconnecting_prompt(std::string_view user, std::string_view node, std::uint32_t attempt,
                                std::int64_t seconds_to_next);

// The screen line for `record`; "" when the interactive screen does not show it.
std::string render_human(const Record& record, const HumanContext& context);

}  // namespace qim::cli
