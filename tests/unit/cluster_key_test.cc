#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "auth/cluster_key.h"
#include "auth/password.h"

using namespace qim::auth;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

// A fresh directory under the system temporary directory, removed at the end of the test.
struct ScratchDirectory {
  ScratchDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "qim-key-XXXXXX").string();
    path = ::mkdtemp(pattern.data());
  }
  ~ScratchDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  std::string file(const char* name) const { return path + "/" + name; }
  std::string path;
};

void write_text(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path, std::ios::trunc) << text;
  ::chmod(path.c_str(), mode);
}

constexpr std::string_view associated_data = "qim-test/1";

}  // namespace

TEST_CASE("cluster key: seal and open round trip", "[auth][cluster_key]") {
  REQUIRE(initialize());
  auto key = ClusterKey::generate();
  std::string plaintext = "alive qim-3 127.0.0.1:7711";
  auto sealed = key.seal(bytes_of(plaintext), bytes_of(associated_data));
  CHECK(sealed.size() == plaintext.size() + sealed_overhead_bytes);
  auto opened = key.open(sealed, bytes_of(associated_data));
  REQUIRE(opened);
  CHECK(std::string(opened->begin(), opened->end()) == plaintext);

  // A fresh nonce every time: the same plaintext never seals to the same bytes.
  CHECK(key.seal(bytes_of(plaintext), bytes_of(associated_data)) != sealed);
  // The empty plaintext works too.
  auto empty = key.seal({}, bytes_of(associated_data));
  CHECK(empty.size() == sealed_overhead_bytes);
  auto opened_empty = key.open(empty, bytes_of(associated_data));
  REQUIRE(opened_empty);
  CHECK(opened_empty->empty());
}

TEST_CASE("cluster key: a wrong key, other associated data, a flipped byte or a truncation fail",
          "[auth][cluster_key]") {
  REQUIRE(initialize());
  auto key = ClusterKey::generate();
  auto other = ClusterKey::generate();
  auto sealed = key.seal(bytes_of("membership update"), bytes_of(associated_data));

  CHECK_FALSE(other.open(sealed, bytes_of(associated_data)));
  CHECK_FALSE(key.open(sealed, bytes_of("qim-test/2")));
  for (std::size_t index = 0; index < sealed.size(); ++index) {
    auto tampered = sealed;
    tampered[index] ^= 0x01;
    CHECK_FALSE(key.open(tampered, bytes_of(associated_data)));
  }
  for (std::size_t length = 0; length < sealed.size(); ++length) {
    CHECK_FALSE(key.open(std::span(sealed).first(length), bytes_of(associated_data)));
  }
  auto extended = sealed;
  extended.push_back(0);
  CHECK_FALSE(key.open(extended, bytes_of(associated_data)));
}

TEST_CASE("cluster key: key files in hex or base64 load; anything else is rejected",
          "[auth][cluster_key]") {
  REQUIRE(initialize());
  ScratchDirectory directory;
  REQUIRE_FALSE(directory.path.empty());
  auto key = ClusterKey::generate();
  std::string hex = key.to_hex();
  REQUIRE(hex.size() == 64);

  std::string error, warning;
  write_text(directory.file("hex"), "  " + hex + "\n");
  auto loaded = ClusterKey::load(directory.file("hex"), error, warning);
  REQUIRE(loaded);
  CHECK(warning.empty());
  CHECK(loaded->to_hex() == hex);
  auto sealed = key.seal(bytes_of("x"), bytes_of(associated_data));
  CHECK(loaded->open(sealed, bytes_of(associated_data)));

  // The same 32 bytes in base64, padded and unpadded, standard and URL-safe.
  std::vector<std::uint8_t> raw(32);
  for (std::size_t index = 0; index < 32; ++index) {
    raw[index] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * index, 2), nullptr, 16));
  }
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string base64;
  for (std::size_t index = 0; index < raw.size(); index += 3) {
    std::uint32_t group = raw[index] << 16;
    if (index + 1 < raw.size()) group |= raw[index + 1] << 8;
    if (index + 2 < raw.size()) group |= raw[index + 2];
    int characters = index + 2 < raw.size() ? 4 : index + 1 < raw.size() ? 3 : 2;
    for (int position = 0; position < characters; ++position) {
      base64 += alphabet[(group >> (18 - 6 * position)) & 0x3f];
    }
  }
  REQUIRE(base64.size() == 43);
  for (const std::string& text : {base64, base64 + "="}) {
    auto parsed = ClusterKey::parse(text, error);
    REQUIRE(parsed);
    CHECK(parsed->to_hex() == hex);
  }

  for (const std::string& bad :
       {std::string(), std::string("not a key"), hex.substr(0, 62), hex + "00",
        hex.substr(0, 63) + "g", base64.substr(0, 40), base64 + "A", std::string(64, 'z')}) {
    error.clear();
    write_text(directory.file("bad"), bad);
    CHECK_FALSE(ClusterKey::load(directory.file("bad"), error, warning));
    CHECK(error.find("cluster key") != std::string::npos);
  }
  error.clear();
  CHECK_FALSE(ClusterKey::load(directory.file("missing"), error, warning));
  CHECK(error.find("missing") != std::string::npos);
  CHECK_FALSE(ClusterKey::load(directory.path, error, warning));  // a directory
  write_text(directory.file("huge"), std::string(100'000, 'a'));
  CHECK_FALSE(ClusterKey::load(directory.file("huge"), error, warning));

  // World-readable: loads, with a warning.
  write_text(directory.file("open"), hex, 0644);
  warning.clear();
  CHECK(ClusterKey::load(directory.file("open"), error, warning));
  CHECK(warning.find("chmod 600") != std::string::npos);
}

TEST_CASE("cluster key: generated key files are 0600 and never overwritten",
          "[auth][cluster_key]") {
  REQUIRE(initialize());
  ScratchDirectory directory;
  std::string path = directory.file("cluster.key");
  std::string error, warning;
  auto created = load_or_create_key_file(path, true, error, warning);
  REQUIRE(created);
  struct stat status {};
  REQUIRE(::stat(path.c_str(), &status) == 0);
  CHECK((status.st_mode & 0777) == 0600);
  auto again = load_or_create_key_file(path, true, error, warning);
  REQUIRE(again);
  CHECK(again->to_hex() == created->to_hex());

  CHECK_FALSE(write_key_file(path, ClusterKey::generate(), error));
  CHECK(load_or_create_key_file(path, false, error, warning)->to_hex() == created->to_hex());
  CHECK_FALSE(load_or_create_key_file(directory.file("absent"), false, error, warning));
}
