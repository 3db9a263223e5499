// qimctl backup against a real qimd: a checkpoint with its manifest, refusals of unusable
// directories, and a node restored from the copy into a fresh data directory serving the data.
#include <filesystem>
#include <string>

#include <catch2/catch.hpp>

#include "cluster_process.h"
#include "e2e_support.h"
#include "qim/ids.h"
#include "qimctl_support.h"

namespace qim::e2e {
namespace {

namespace fs = std::filesystem;

}  // namespace

TEST_CASE("qimctl backup writes a checkpoint that a fresh node starts from", "[qimctl][backup]") {
  TempDir original_root, backups, restored_root;
  ServerOptions options;
  options.root_dir = original_root.path();
  options.node_name = "keeper";
  auto server = started_server(options);
  register_user(*server, "alice");
  register_user(*server, "bob");
  {
    auto alice = logged_in_client(*server, "alice");
    auto bob = logged_in_client(*server, "bob");
    make_friends(*alice, *bob);
    for (int i = 1; i <= 3; ++i)
      REQUIRE(alice->send_to_user("bob", "before the backup " + std::to_string(i)).ok());
  }

  std::string directory = backups.path() + "/monday";
  CommandResult made = qimctl(*server, {"--json", "backup", directory});
  INFO("qimctl: " << made.out << made.err);
  REQUIRE(made.exit_code == 0);
  CHECK(contains(made.out, R"({"ok":true,"action":"backup","directory":")" + directory + "\""));
  CHECK(contains(made.out, R"("node":"keeper")"));
  CHECK(contains(made.out, R"("partitions":[{"partition":0,)"));
  std::string manifest = read_file(directory + "/qim-backup.json");
  CHECK(contains(manifest, "\"node_name\": \"keeper\""));
  CHECK(contains(manifest, "\"applied_index\": "));
  CHECK(fs::exists(directory + "/CURRENT"));

  // The same directory again, a file, and a relative path on the node's side are refused.
  CommandResult again = qimctl(*server, {"--json", "backup", directory});
  CHECK(again.exit_code == 1);
  CHECK(contains(again.out, R"("code":"invalid_argument")"));
  CHECK(contains(again.out, "exists and is not empty"));
  write_file(backups.path() + "/plain-file", "x");
  CommandResult onto_file = qimctl(*server, {"backup", backups.path() + "/plain-file"});
  CHECK(onto_file.exit_code == 1);
  CHECK(contains(onto_file.err, "is not a directory"));
  // An empty directory is fine.
  fs::create_directories(backups.path() + "/empty");
  CHECK(qimctl(*server, {"backup", backups.path() + "/empty"}).exit_code == 0);

  // A write after the backup is not in it.
  {
    auto alice = logged_in_client(*server, "alice");
    REQUIRE(alice->send_to_user("bob", "after the backup").ok());
  }
  REQUIRE(server->stop());

  // Restore: the copy becomes a fresh node's data directory.
  fs::copy(directory, restored_root.path() + "/data", fs::copy_options::recursive);
  ServerOptions restored_options;
  restored_options.root_dir = restored_root.path();
  restored_options.node_name = "keeper";
  auto restored = started_server(restored_options);
  auto bob = logged_in_client(*restored, "bob");
  auto page = bob->history(direct_conversation("alice", "bob"));
  REQUIRE(page.ok());
  REQUIRE(page.value().messages.size() == 3);
  CHECK(page.value().messages.front().body == "before the backup 1");
  CHECK(page.value().messages.back().body == "before the backup 3");
  auto friends = bob->friends();
  REQUIRE(friends.ok());
  CHECK(friends.value().size() == 1);
}

}  // namespace qim::e2e
