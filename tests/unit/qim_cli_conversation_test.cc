// The terminal client's conversation mode and display width: which lines are messages, unread
// counts, the order of `convs`, and text cut and wrapped by terminal columns (tools/qim).
#include <clocale>
#include <string>

#include <catch2/catch.hpp>

#include "completion.h"
#include "conversation.h"
#include "human_format.h"
#include "locale_setup.h"
#include "output.h"
#include "text_width.h"

namespace qim::cli {
namespace {

// qim's locale for the test's span (wcwidth answers by it), the process's own after.
class QimLocale {
 public:
  QimLocale() : saved_(std::setlocale(LC_ALL, nullptr)) { setup_locale(); }
  ~QimLocale() { std::setlocale(LC_ALL, saved_.c_str()); }

 private:
  std::string saved_;
};

bool fits(const std::vector<std::string>& lines, std::size_t columns) {
  for (const auto& line : lines) {
    if (display_width(line) > columns) return false;
  }
  return true;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

}  // namespace

TEST_CASE("qim width: CJK and emoji take two columns, combining marks none", "[qim][unit]") {
  QimLocale locale;
  CHECK(display_width("hello") == 5);
  CHECK(display_width("你好") == 4);
  CHECK(display_width("😀") == 2);
  CHECK(display_width("e\u0301") == 1);              // e + combining acute
  CHECK(display_width("👍🏽") == 2);             // a skin tone joins the emoji
  CHECK(display_width("héllo wörld 你好 😀") == 19);  // precomposed accents: one column
  CHECK(display_width("a\xff") == 2);                // a stray byte shows as one '?'
  CHECK(display_width("") == 0);
}

TEST_CASE("qim width: truncation counts columns and never splits a character", "[qim][unit]") {
  QimLocale locale;
  CHECK(truncate_to_width("abc", 3) == "abc");
  CHECK(truncate_to_width("abcd", 3) == "ab…");
  CHECK(truncate_to_width("你好世界", 5) == "你好…");
  CHECK(truncate_to_width("你好世界", 4) == "你…");
  CHECK(truncate_to_width("😀😀😀", 5) == "😀😀…");
  CHECK(truncate_to_width("😀😀😀", 4) == "😀…");
  // The accent stays on the kept e; the next e goes with its own accent.
  CHECK(truncate_to_width("e\u0301e\u0301e\u0301", 2) == "e\u0301…");
  CHECK(truncate_to_width("anything", 0) == "anything");
  CHECK(truncate_to_width("你好", 1) == "…");
  CHECK(pad_to_width("你", 4) == "你  ");
  CHECK(pad_to_width("toolong", 3) == "toolong");
}

TEST_CASE("qim width: wrapping breaks at spaces, between CJK characters, under the text",
          "[qim][unit]") {
  QimLocale locale;
  CHECK(wrap_to_width("hello world foo", 11, 2) ==
        std::vector<std::string>{"hello world", "  foo"});
  CHECK(wrap_to_width("你好世界你好", 8, 2) == std::vector<std::string>{"你好世界", "  你好"});
  CHECK(wrap_to_width("😀😀😀😀😀", 6, 0) == std::vector<std::string>{"😀😀😀", "😀😀"});
  CHECK(wrap_to_width("short", 80, 4) == std::vector<std::string>{"short"});
  CHECK(wrap_to_width("no limit at all", 0, 4) == std::vector<std::string>{"no limit at all"});
  // A word longer than the line is cut between characters.
  CHECK(wrap_to_width("abcdefghij", 4, 1) == std::vector<std::string>{"abcd", " efg", " hij"});
  const std::string mixed = "今天 we ship 版本 2.0 🎉🎉 and 明天 we rest 😴 好不好呀朋友们";
  for (std::size_t columns : {7u, 10u, 13u, 20u, 33u}) {
    auto lines = wrap_to_width(mixed, columns, 3);
    INFO(columns);
    CHECK(fits(lines, columns));
    CHECK(lines.size() > 1);
  }
  // A mark on a wide character moves with it to the next line.
  auto marked = wrap_to_width("你好\u0301世", 4, 0);
  CHECK(marked == std::vector<std::string>{"你好\u0301", "世"});
}

TEST_CASE("qim conversations: plain lines go to the conversation, commands start with /",
          "[qim][unit]") {
  auto parsed = [](std::string_view line, bool in) {
    ParsedLine p = parse_line(line, in);
    return std::pair{p.kind, p.text};
  };
  using K = LineKind;
  // Outside a conversation every line is a command.
  CHECK(parsed(":c bob", false) == std::pair{K::enter, std::string("bob")});
  CHECK(parsed("  :c   #team  ", false) == std::pair{K::enter, std::string("#team")});
  CHECK(parsed("/query bob", false) == std::pair{K::enter, std::string("bob")});
  CHECK(parsed(":c", false).first == K::leave);
  CHECK(parsed("/part", false).first == K::leave);
  CHECK(parsed("/query", false).first == K::invalid);
  CHECK(parsed(":c bob carol", false).first == K::invalid);
  CHECK(parsed("/part now", false).first == K::invalid);
  CHECK(parsed("fls", false) == std::pair{K::command, std::string("fls")});
  CHECK(parsed("/fls", false) == std::pair{K::command, std::string("fls")});
  CHECK(parsed("bob;;hi", false) == std::pair{K::command, std::string("bob;;hi")});
  CHECK(parsed("# a comment", false).first == K::blank);
  CHECK(parsed("   \r\n", true).first == K::blank);
  // Inside one, plain lines are messages, verbatim.
  CHECK(parsed("你好 😀 bob\r\n", true) == std::pair{K::message, std::string("你好 😀 bob")});
  CHECK(parsed("fls", true) == std::pair{K::message, std::string("fls")});
  CHECK(parsed("#team rocks", true) == std::pair{K::message, std::string("#team rocks")});
  CHECK(parsed(":)", true) == std::pair{K::message, std::string(":)")});
  CHECK(parsed("//etc/passwd is a path", true) ==
        std::pair{K::message, std::string("/etc/passwd is a path")});
  CHECK(parsed("/fls", true) == std::pair{K::command, std::string("fls")});
  CHECK(parsed("/history bob --limit 5", true) ==
        std::pair{K::command, std::string("history bob --limit 5")});
  CHECK(parsed(":q", true) == std::pair{K::command, std::string(":q")});
  CHECK(parsed(":c", true).first == K::leave);
  CHECK(parsed(":c #team", true) == std::pair{K::enter, std::string("#team")});
  CHECK(parsed("/ fls", true).first == K::invalid);
  CHECK(parsed("/", true).first == K::invalid);
}

TEST_CASE("qim conversations: names, unread counts and the order of convs", "[qim][unit]") {
  CHECK(conversation_of_name("bob", "alice") == "d:alice:bob");
  CHECK(conversation_of_name("alice", "bob") == "d:alice:bob");
  CHECK(conversation_of_name("#team", "alice") == "g:team");
  CHECK(conversation_of_name("alice", "alice").empty());
  CHECK(conversation_of_name("no body", "alice").empty());
  CHECK(conversation_of_name("#", "alice").empty());
  CHECK(conversation_of_name("bob", "").empty());

  CHECK(unread_count(5, 3) == 2);
  CHECK(unread_count(5, 5) == 0);
  CHECK(unread_count(3, 5) == 0);  // a cursor ahead of a trimmed head
  CHECK(unread_count(0, 0) == 0);
  CHECK(messages_to_show(0) == 10);
  CHECK(messages_to_show(20) == 25);
  CHECK(messages_to_show(100'000) == 100);

  std::vector<ConversationRow> rows(4);
  rows[0].name = "old";
  rows[0].last_time_ms = 1000;
  rows[1].name = "new";
  rows[1].last_time_ms = 5000;
  rows[2].name = "empty-b";
  rows[3].name = "empty-a";
  order_conversations(rows);
  CHECK(rows[0].name == "new");
  CHECK(rows[1].name == "old");
  CHECK(rows[2].name == "empty-a");
  CHECK(rows[3].name == "empty-b");
}

TEST_CASE("qim screen: conversation lines fit the terminal and name no ids", "[qim][unit]") {
  QimLocale locale;
  HumanContext context;
  context.self = "alice";
  context.width = 40;
  Record row("conversation");
  row.add("conv", "d:alice:bob")
      .add("name", "bob")
      .add("unread", std::uint64_t{2})
      .add("head", std::uint64_t{7})
      .add("time_ms", std::uint64_t{0})
      .add("from", "bob")
      .add("text", "你好 alice，今天一起吃午饭吗？😀😀😀 好的")
      .hide("pad", "5");
  std::string line = render_human(row, context);
  CHECK(line.starts_with("  bob    2 unread"));
  CHECK(line.ends_with("…"));
  CHECK(display_width(line) <= 40);
  CHECK(line.find("d:") == std::string::npos);

  Record read("conversation");
  read.add("conv", "g:team")
      .add("name", "#team")
      .add("unread", std::uint64_t{0})
      .add("head", std::uint64_t{0})
      .add("time_ms", std::uint64_t{0})
      .add("from", "")
      .add("text", "")
      .hide("pad", "5");
  CHECK(render_human(read, context) == "  #team  all read");

  // A long message in the conversation wraps under its text.
  std::string here = conversation_line("12:04", "bob", "一二三四五六七八九十一二三四五 end", 30);
  auto lines = lines_of(here);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "12:04 bob › 一二三四五六七八九");
  CHECK(lines[1] == std::string(12, ' ') + "十一二三四五 end");
  // Too narrow to indent under the text: a small margin instead.
  auto narrow = lines_of(conversation_line("12:04", "bob", "一二三四五六七八九十 end", 16));
  CHECK(narrow.size() > 1);
  CHECK(narrow[1].starts_with("  "));
  CHECK(fits(narrow, 16));
  // Another conversation's message is one line, cut to the width.
  std::string notice =
      notice_line("12:05", "d:alice:carol", "alice", "carol", "午饭吃什么？ 🍜🍜🍜🍜🍜🍜🍜🍜", 30);
  CHECK(notice.starts_with("✉ 12:05 carol › 午饭"));
  CHECK(notice.find('\n') == std::string::npos);
  CHECK(display_width(notice) <= 30);

  Record entered("ok");
  entered.add("command", "conv")
      .add("conv", "d:alice:bob")
      .add("name", "bob")
      .add("count", std::uint64_t{3})
      .add("unread", std::uint64_t{1});
  std::string talking = render_human(entered, context);
  CHECK(talking.find("talking with bob") != std::string::npos);
  CHECK(talking.find("d:") == std::string::npos);
  CHECK(talking.find('\n') == std::string::npos);
  Record behind("ok");
  behind.add("command", "conv")
      .add("conv", "d:alice:bob")
      .add("name", "bob")
      .add("count", std::uint64_t{100})
      .add("unread", std::uint64_t{250})
      .hide("first", "151");
  CHECK(render_human(behind, context)
            .ends_with("\nolder unread messages: /history bob --before 151"));
  Record who("ok");
  who.add("command", "whoami")
      .add("user", "alice")
      .add("node", "n1")
      .add("device", "laptop")
      .add("tls", true);
  CHECK(render_human(who, context) == "alice on n1 · device laptop · TLS");
}

TEST_CASE("qim completion: conversations take friends and #groups", "[qim][unit]") {
  CompletionNames names{{"bob", "bobby", "carol"}, {"team", "tea"}};
  CHECK(complete(":c b", names) == std::vector<std::string>{"bob", "bobby"});
  CHECK(complete("/query #te", names) == std::vector<std::string>{"#tea", "#team"});
  CHECK(complete("/fl", names) == std::vector<std::string>{"/fls"});
  CHECK(complete("/fadd ca", names) == std::vector<std::string>{"carol"});
  CHECK(complete("co", names) == std::vector<std::string>{"convs"});
  // In a conversation plain words are text: only / and : commands complete.
  CHECK(complete("co", names, true).empty());
  CHECK(complete("see you bo", names, true).empty());
  CHECK(complete("/co", names, true) == std::vector<std::string>{"/convs"});
  CHECK(complete("/fadd ca", names, true) == std::vector<std::string>{"carol"});
  CHECK(complete(":c ca", names, true) == std::vector<std::string>{"carol"});
}

}  // namespace qim::cli
