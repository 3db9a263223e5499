// The terminal client's pure logic: the human screen's lines, what line history keeps, Tab
// completion, device files and the locale check (tools/qim).
#include <unistd.h>

#include <filesystem>

#include <catch2/catch.hpp>

#include "completion.h"
#include "device.h"
#include "human_format.h"
#include "line_history.h"
#include "locale_setup.h"
#include "output.h"

namespace qim::cli {
namespace {

std::tm day(int year, int yday, int hour, int minute) {
  std::tm when{};
  when.tm_year = year - 1900;
  when.tm_yday = yday;
  when.tm_mon = 5;
  when.tm_mday = 3;
  when.tm_hour = hour;
  when.tm_min = minute;
  return when;
}

HumanContext as(std::string self) {
  HumanContext context;
  context.self = std::move(self);
  return context;
}

}  // namespace

TEST_CASE("qim screen: conversations are named from my side", "[qim][unit]") {
  CHECK(conversation_name("d:alice:bob", "alice") == "bob");
  CHECK(conversation_name("d:alice:bob", "bob") == "alice");
  CHECK(conversation_name("g:team", "alice") == "#team");
  CHECK(conversation_name("d:carol:dave", "alice") == "d:carol:dave");
}

TEST_CASE("qim screen: times are hours today and dates before", "[qim][unit]") {
  CHECK(clock_label(day(2024, 154, 12, 4), day(2024, 154, 18, 0)) == "12:04");
  CHECK(clock_label(day(2024, 154, 9, 30), day(2024, 155, 8, 0)) == "2024-06-03 09:30");
  CHECK(local_clock(0, 0).empty());
}

TEST_CASE("qim screen: messages read as time, who and text", "[qim][unit]") {
  CHECK(message_line("12:04", "d:alice:bob", "alice", "bob", "hi alice") == "12:04 bob › hi alice");
  CHECK(message_line("12:05", "d:alice:bob", "alice", "alice", "hi bob") ==
        "12:05 alice → bob › hi bob");
  CHECK(message_line("12:06", "g:team", "alice", "carol", "standup?") ==
        "12:06 #team carol › standup?");
  CHECK(message_line("", "d:alice:bob", "alice", "bob", "two\nlines\x07") == "bob › two ⏎ lines?");
  CHECK(message_line("12:04", "d:alice:bob", "alice", "bob", "你好 😀") == "12:04 bob › 你好 😀");
}

TEST_CASE("qim screen: records become sentences, ids and tokens stay hidden", "[qim][unit]") {
  auto alice = as("alice");
  auto msg = Record("msg")
                 .add("conv", "d:alice:bob")
                 .add("seq", std::uint64_t{3})
                 .add("from", "bob")
                 .add("text", "hi")
                 .hide("time_ms", "0");
  CHECK(render_human(msg, alice) == "bob › hi");
  auto sent = Record("sent")
                  .add("conv", "g:team")
                  .add("seq", std::uint64_t{9})
                  .add("id", std::uint64_t{1796395913826097})
                  .add("duplicate", false)
                  .hide("text", "morning")
                  .hide("time_ms", "0");
  CHECK(render_human(sent, alice) == "#team alice › morning");

  auto login = Record("ok")
                   .add("command", "login")
                   .add("user", "alice")
                   .add("node", "n1")
                   .add("device", "cli-x")
                   .add("token", "SECRET");
  CHECK(render_human(login, alice) == "logged in as alice on n1");
  auto shown = alice;
  shown.show_token = true;
  CHECK(render_human(login, shown).find("SECRET") != std::string::npos);

  CHECK(render_human(Record("presence").add("user", "bob").add("online", true), alice) ==
        "bob is online");
  CHECK(render_human(Record("group-event")
                         .add("group", "team")
                         .add("kind", "added")
                         .add("user", "alice")
                         .add("by", "carol"),
                     alice) == "carol added you to #team");
  CHECK(render_human(Record("friend-request").add("from", "bob"), alice) ==
        "bob wants to be your friend — faccept bob or fdecline bob");
  CHECK(render_human(Record("ok").add("command", "fadd").add("user", "bob"), alice) ==
        "friend request sent to bob");
  CHECK(render_human(Record("redirected").add("node", "n2"), alice).empty());
}

TEST_CASE("qim screen: errors are one line with what to do", "[qim][unit]") {
  auto alice = as("alice");
  CHECK(render_human(Record("error")
                         .add("code", "not_friends")
                         .add("command", "send")
                         .add("message", "you are not friends with dave"),
                     alice) ==
        "✗ you are not friends with dave — send a friend request first: fadd USER");
  CHECK(render_human(Record("error")
                         .add("code", "usage")
                         .add("command", "fadd")
                         .add("message", "usage: fadd <user>"),
                     alice) == "✗ usage: fadd <user>");
}

TEST_CASE("qim screen: losing the session says why and how to come back", "[qim][unit]") {
  auto alice = as("alice");
  auto down = Record("disconnected")
                  .add("code", "unavailable")
                  .add("reconnect", true)
                  .add("node", "n3")
                  .add("message", "the server stopped answering; reconnecting");
  CHECK(render_human(down, alice) ==
        "home node n3 is down (the server stopped answering) — reconnecting");
  auto replaced = Record("disconnected")
                      .add("code", "kicked")
                      .add("reconnect", false)
                      .add("node", "n1")
                      .add("message", "replaced by a newer login of this device");
  CHECK(render_human(replaced, alice).find("--device") != std::string::npos);
  CHECK(render_human(replaced, alice).find("login alice") != std::string::npos);
  CHECK(reconnecting_prompt("alice", "n3", 3, 4) ==
        "alice: home node n3 is down — reconnecting (attempt 3, next in 4 s)> ");
  CHECK(render_human(Record("reconnected").add("node", "n1"), alice) == "back on n1");
  auto caught_up = [](bool ok, std::uint64_t missed, std::string message) {
    return Record("caught-up").add("ok", ok).add("missed", missed).add("message", message);
  };
  CHECK(render_human(caught_up(true, 2, ""), alice) == "2 new messages while you were away");
  CHECK(render_human(caught_up(true, 0, ""), alice).empty());
  CHECK(render_human(caught_up(false, 0, "no leader"), alice) ==
        "could not catch up yet (no leader) — missed messages will follow");
}

TEST_CASE("qim script output: hidden fields stay off the text and JSON forms", "[qim][unit]") {
  auto msg = Record("msg")
                 .add("conv", "d:alice:bob")
                 .add("seq", std::uint64_t{1})
                 .add("from", "bob")
                 .add("text", "hi there")
                 .hide("time_ms", "1700000000000");
  CHECK(msg.to_text() == "msg conv=d:alice:bob seq=1 from=bob text=hi there");
  CHECK(msg.to_json() ==
        R"({"type":"msg","conv":"d:alice:bob","seq":1,"from":"bob","text":"hi there"})");
  CHECK(msg.get("time_ms") == "1700000000000");
}

TEST_CASE("qim history: passwords never enter it", "[qim][unit]") {
  CHECK(history_entry("login alice s3cret") == "login alice");
  CHECK(history_entry("login -u alice -p s3cret") == "login -u alice");
  CHECK(history_entry("login -p s3cret -u alice -d laptop") == "login -u alice -d laptop");
  CHECK(history_entry("login -u alice -t TOKEN") == "login -u alice");
  CHECK(history_entry("register bob pw-pw-pw") == "register bob");
  CHECK(history_entry("passwd old new") == "passwd");
  CHECK(history_entry("bob;;hi 你好") == "bob;;hi 你好");
  CHECK_FALSE(history_entry("   ").has_value());
  CHECK_FALSE(history_entry("login alice \"unterminated").has_value());
  CHECK(history_path(nullptr, "/home/a") == "/home/a/.local/state/qim/history");
  CHECK(history_path("/state", "/home/a") == "/state/qim/history");
  CHECK(history_path(nullptr, nullptr).empty());
}

TEST_CASE("qim completion: commands, then friends and groups where they fit", "[qim][unit]") {
  CompletionNames names{{"bob", "bobby", "carol"}, {"team", "tea"}};
  CHECK(complete("fa", names) == std::vector<std::string>{"faccept", "fadd"});
  CHECK(complete("b", names) == std::vector<std::string>{"bob;;", "bobby;;"});
  CHECK(complete("fadd bo", names) == std::vector<std::string>{"bob", "bobby"});
  CHECK(complete("send -r c", names) == std::vector<std::string>{"carol"});
  CHECK(complete("send -g te", names) == std::vector<std::string>{"tea", "team"});
  CHECK(complete("gpush -g team -us bob,c", names) == std::vector<std::string>{"bob,carol"});
  CHECK(complete("history #t", names) == std::vector<std::string>{"#tea", "#team"});
  CHECK(complete("help hi", names) == std::vector<std::string>{"history"});
  CHECK(complete("send -r bob -m hel", names).empty());
}

TEST_CASE("qim devices: the person's and the scripts' ids live apart", "[qim][unit]") {
  CHECK(device_file("/c", true, 1) == "/c/device");
  CHECK(device_file("/c", true, 2) == "/c/device-2");
  CHECK(device_file("/c", false, 1) == "/c/script-device");
  CHECK(sanitise_device("cli-my host:1") == "cli-myhost1");
}

TEST_CASE("qim devices: stable per install, a second terminal and scripts get their own",
          "[qim][unit]") {
  auto home =
      std::filesystem::temp_directory_path() / ("qim-device-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(home);
  std::string first_id, script_id;
  {
    DeviceSlot first(home.string(), "host", true);
    DeviceSlot second(home.string(), "host", true);
    DeviceSlot script(home.string(), "host", false);
    first_id = first.id();
    script_id = script.id();
    CHECK(first_id.starts_with("cli-host-"));
    CHECK(script_id.starts_with("script-host-"));
    CHECK(second.id() != first_id);
    CHECK(script_id != first_id);
  }
  DeviceSlot again(home.string(), "host", true);
  DeviceSlot script_again(home.string(), "host", false);
  CHECK(again.id() == first_id);
  CHECK(script_again.id() == script_id);
  CHECK(DeviceSlot("", "host", true).id() == "cli-host");
  std::filesystem::remove_all(home);
}

TEST_CASE("qim locale: UTF-8 is recognised however it is spelled", "[qim][unit]") {
  CHECK(is_utf8_codeset("UTF-8"));
  CHECK(is_utf8_codeset("utf8"));
  CHECK_FALSE(is_utf8_codeset("ANSI_X3.4-1968"));
}

}  // namespace qim::cli
