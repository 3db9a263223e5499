// The qim terminal client in script mode: two processes chat, synchronised by `wait`.
#include <catch2/catch.hpp>

#include "e2e_support.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

struct ScriptRun {
  std::optional<int> exit_code;
  std::string output;
};

// Starts qim with `script` on stdin; the caller waits via finish().
class QimProcess {
 public:
  QimProcess(const TempDir& dir, const std::string& name, const ServerProcess& server,
             const std::string& script, std::vector<std::string> extra_args = {},
             bool reconnect = false) {
    input_ = dir.file(name + ".in");
    output_ = dir.file(name + ".out");
    write_file(input_, script);
    std::vector<std::string> argv = {qim_path(),    "--server",     server.address(), "--device",
                                     "cli-" + name, "--timeout-ms", "15000"};
    if (!reconnect) argv.push_back("--no-reconnect");
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    std::string error;
    started_ = process_.start(argv, input_, output_, error);
    INFO(error);
    REQUIRE(started_);
  }

  // What it printed so far.
  std::string output() const { return read_file(output_); }

  ScriptRun finish() {
    ScriptRun run;
    run.exit_code = process_.wait(std::chrono::seconds(60));
    run.output = read_file(output_);
    return run;
  }

 private:
  std::string input_, output_;
  bool started_ = false;
  ChildProcess process_;
};

bool has_line(const std::string& output, const std::string& line) {
  return output.find(line + "\n") != std::string::npos;
}

std::size_t lines_starting(const std::string& output, const std::string& prefix) {
  std::size_t count = 0;
  for (std::size_t at = 0; at < output.size();) {
    std::size_t end = output.find('\n', at);
    if (end == std::string::npos) end = output.size();
    if (output.compare(at, prefix.size(), prefix) == 0) ++count;
    at = end + 1;
  }
  return count;
}

}  // namespace

TEST_CASE("two qim processes chat in script mode", "[e2e][cli]") {
  auto server = started_server();
  TempDir dir;
  {
    // Accounts and friendship first, with qim itself.
    QimProcess setup(dir, "setup", *server,
                     "register alice " + std::string(test_password) + "\n" + "register -u bob -p " +
                         test_password + "\n");
    auto run = setup.finish();
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
    CHECK(has_line(run.output, "ok command=register user=alice"));
    CHECK(has_line(run.output, "ok command=register user=bob"));
  }
  {
    auto alice = logged_in_client(*server, "alice");
    auto bob = logged_in_client(*server, "bob");
    make_friends(*alice, *bob);
  }

  QimProcess alice(dir, "alice", *server,
                   "login -u alice -p " + std::string(test_password) +
                       "\n"
                       "wait msg from=bob count=1\n"
                       "send -r bob -m hello bob, how are you?\n"
                       "wait msg from=bob text=fine\n"
                       "history bob --limit 10\n"
                       ":q\n");
  QimProcess bob(dir, "bob", *server,
                 "login bob " + std::string(test_password) +
                     "\n"
                     "alice;;hi alice\n"
                     "wait msg from=alice\n"
                     "send -r alice -m fine\n"
                     "fls\n"
                     "olu\n"
                     "exit\n");
  auto alice_run = alice.finish();
  auto bob_run = bob.finish();
  INFO("alice:\n" << alice_run.output << "bob:\n" << bob_run.output);
  REQUIRE(alice_run.exit_code == 0);
  REQUIRE(bob_run.exit_code == 0);

  CHECK(alice_run.output.find("ok command=login user=alice node=") != std::string::npos);
  CHECK(has_line(alice_run.output, "msg conv=d:alice:bob seq=1 from=bob text=hi alice"));
  CHECK(alice_run.output.find("sent conv=d:alice:bob seq=2 ") != std::string::npos);
  CHECK(has_line(alice_run.output, "msg conv=d:alice:bob seq=3 from=bob text=fine"));
  CHECK(has_line(alice_run.output,
                 "hist conv=d:alice:bob seq=2 from=alice text=hello bob, how are you?"));
  CHECK(has_line(alice_run.output, "ok command=history conv=d:alice:bob count=3 more=0"));

  CHECK(bob_run.output.find("sent conv=d:alice:bob seq=1 ") != std::string::npos);
  CHECK(has_line(bob_run.output,
                 "msg conv=d:alice:bob seq=2 from=alice text=hello bob, how are you?"));
  // Alice may have quit by now, so her presence is not checked.
  CHECK(bob_run.output.find("friend user=alice state=accepted online=") != std::string::npos);
  CHECK(bob_run.output.find("ok command=olu total=") != std::string::npos);
}

TEST_CASE("qim reports bad input and exits 1", "[e2e][cli]") {
  auto server = started_server();
  TempDir dir;
  QimProcess run_with_errors(dir, "bad", *server,
                             "frobnicate\n"
                             "send -r bob\n"
                             "login -x\n"
                             "history\n"
                             "wait msg count=zero\n"
                             "fadd bob\n"
                             "\"unterminated\n"
                             "help\n");
  auto run = run_with_errors.finish();
  INFO(run.output);
  CHECK(run.exit_code == 1);
  CHECK(has_line(run.output,
                 "error code=usage command=frobnicate message=\"unknown command 'frobnicate' "
                 "(try :all)\""));
  CHECK(run.output.find("error code=usage command=send") != std::string::npos);
  CHECK(run.output.find("error code=usage command=login message=\"unknown flag '-x'\"") !=
        std::string::npos);
  CHECK(run.output.find("error code=not_authenticated command=fadd") != std::string::npos);
  CHECK(run.output.find("commands:") != std::string::npos);

  QimProcess json(dir, "json", *server, "register carol " + std::string(test_password) + "\n",
                  {"--json"});
  auto json_run = json.finish();
  INFO(json_run.output);
  CHECK(json_run.exit_code == 0);
  CHECK(has_line(json_run.output, R"({"type":"ok","command":"register","user":"carol"})"));
}

// Own messages move this device's read cursor: a later login shows only what others sent.
TEST_CASE("qim's own sent messages do not come back as new at the next login", "[e2e][cli]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  auto bob = logged_in_client(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice", "setup");
    make_friends(*alice, *bob);
  }
  TempDir dir;
  {
    QimProcess first(dir, "alice", *server,
                     "login alice " + std::string(test_password) +
                         "\n"
                         "bob;;one\n"
                         "bob;;two\n"
                         ":q\n");
    auto run = first.finish();
    INFO(run.output);
    REQUIRE(run.exit_code == 0);
  }
  REQUIRE(next_message(*bob, "d:alice:bob"));
  REQUIRE(next_message(*bob, "d:alice:bob"));
  REQUIRE(bob->send_to_user("alice", "three"));
  QimProcess again(dir, "alice", *server,
                   "login alice " + std::string(test_password) + "\nwait msg from=bob\n:q\n");
  auto run = again.finish();
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK(has_line(run.output, "ok command=backlog count=1"));
  CHECK(has_line(run.output, "msg conv=d:alice:bob seq=3 from=bob text=three"));
  CHECK(lines_starting(run.output, "msg ") == 1);
}

// The soak's outage "shown as a stream of redirected lines then misleading errors": an outage
// is one line when the connection goes and one when the session is back.
TEST_CASE("qim shows an outage of its node as one line when it goes and one when it is back",
          "[e2e][cli]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice");
    auto bob = logged_in_client(*server, "bob");
    make_friends(*alice, *bob);
  }
  TempDir dir;
  QimProcess bob(dir, "bob", *server,
                 "login bob " + std::string(test_password) +
                     "\n"
                     "wait disconnected\n"
                     "wait reconnected timeout_ms=30000\n"
                     "wait caught-up timeout_ms=30000\n"
                     "wait msg from=alice timeout_ms=30000\n"
                     ":q\n",
                 {}, /*reconnect=*/true);
  REQUIRE(eventually([&] { return bob.output().find("ok command=backlog") != std::string::npos; },
                     std::chrono::seconds(15)));
  REQUIRE(server->stop());
  REQUIRE(eventually([&] { return bob.output().find("disconnected ") != std::string::npos; },
                     std::chrono::seconds(15)));
  REQUIRE(server->start());
  auto alice = logged_in_client(*server, "alice");
  REQUIRE(alice->send_to_user("bob", "welcome back"));
  auto run = bob.finish();
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK(lines_starting(run.output, "disconnected ") == 1);
  CHECK(run.output.find("disconnected code=shutting_down reconnect=1 node=qim-e2e") !=
        std::string::npos);
  CHECK(lines_starting(run.output, "reconnected node=qim-e2e") == 1);
  CHECK(lines_starting(run.output, "caught-up ok=1 missed=") == 1);
  CHECK(lines_starting(run.output, "redirected ") == 0);
  CHECK(lines_starting(run.output, "error ") == 0);
  CHECK(has_line(run.output, "msg conv=d:alice:bob seq=1 from=alice text=welcome back"));
}

TEST_CASE("qim script mode: conversations, convs and whoami have stable lines and JSON",
          "[e2e][cli]") {
  auto server = started_server();
  register_user(*server, "alice");
  register_user(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice", "setup");
    auto bob = logged_in_client(*server, "bob", "setup");
    make_friends(*alice, *bob);
    REQUIRE(bob->send_to_user("alice", "hi alice"));
  }
  TempDir dir;
  const std::string login = "login -u alice -p " + std::string(test_password) + "\n";
  QimProcess alice(dir, "alice", *server,
                   login +
                       ":c bob\n"
                       "你好 😀 a plain line\n"
                       "/fls\n"
                       "/convs\n"
                       "/part\n"
                       "whoami\n"
                       "clear\n");
  auto run = alice.finish();
  INFO(run.output);
  REQUIRE(run.exit_code == 0);
  CHECK(has_line(run.output, "hist conv=d:alice:bob seq=1 from=bob text=hi alice"));
  CHECK(run.output.find("ok command=conv conv=d:alice:bob name=bob count=1 unread=") !=
        std::string::npos);
  CHECK(run.output.find("sent conv=d:alice:bob seq=2 ") != std::string::npos);
  CHECK(run.output.find("seq=3") == std::string::npos);  // /fls and /convs are commands
  CHECK(run.output.find("friend user=bob state=accepted") != std::string::npos);
  CHECK(run.output.find("conversation conv=d:alice:bob name=bob unread=") != std::string::npos);
  CHECK(run.output.find(" head=2 time_ms=") != std::string::npos);
  CHECK(run.output.find(" from=alice text=你好 😀 a plain line\n") != std::string::npos);
  CHECK(run.output.find("ok command=convs count=1 unread=") != std::string::npos);
  CHECK(has_line(run.output, "ok command=part conv=d:alice:bob name=bob"));
  CHECK(has_line(run.output, "ok command=whoami user=alice node=qim-e2e device=cli-alice tls=0"));
  CHECK(has_line(run.output, "ok command=clear"));
  CHECK(run.output.find('\033') == std::string::npos);

  QimProcess json(dir, "alice-json", *server, login + "whoami\nconvs\n:c\n", {"--json"});
  auto json_run = json.finish();
  INFO(json_run.output);
  CHECK(json_run.exit_code == 1);  // :c outside a conversation is an error
  CHECK(has_line(json_run.output,
                 "{\"type\":\"ok\",\"command\":\"whoami\",\"user\":\"alice\","
                 "\"node\":\"qim-e2e\",\"device\":\"cli-alice-json\","
                 "\"tls\":false}"));
  CHECK(json_run.output.find("{\"type\":\"conversation\",\"conv\":\"d:alice:bob\",\"name\":"
                             "\"bob\",\"unread\":") != std::string::npos);
  CHECK(json_run.output.find("\"from\":\"alice\",\"text\":\"你好 😀 a plain line\"}") !=
        std::string::npos);
  CHECK(json_run.output.find("{\"type\":\"error\",\"code\":\"usage\",\"command\":\":c\"") !=
        std::string::npos);
}

}  // namespace qim::e2e
