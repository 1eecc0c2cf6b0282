// The L402 credential cache (pay::TokenCache): credentials belong to the caller (client label + envelope +
// hosted) that paid for them, a refusal drops a credential only where it was known to work, and the file is
// 0600, survives a restart, and an old origin-only file is read safely.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "pay/pay.h"
#include "../spend/helpers.h"  // TempDir

using namespace sw;

namespace {

struct TempDir : spend_test::TempDir {
  std::string file() const { return spend_test::TempDir::file("l402-tokens.json"); }
};

json read_json(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

const std::string kOrigin = "https://api.example.com:443";
const pay::TokenOwner kA{"agent-a", "env-a", true};
const pay::TokenOwner kB{"agent-b", "env-b", true};
const pay::TokenOwner kStdio{"stdio", "", false};

}  // namespace

TEST_CASE("token cache: a credential is handed back only to the caller that paid for it") {
  TempDir d;
  pay::TokenCache c(d.file());
  REQUIRE(c.put(kB, kOrigin, "/l402", "L402 mac-b:pre-b"));
  CHECK(c.get(kB, kOrigin, "/l402") == std::optional<std::string>("L402 mac-b:pre-b"));
  CHECK(c.get(kB, kOrigin, "/other") == std::optional<std::string>("L402 mac-b:pre-b"));  // origin-wide reuse
  CHECK_FALSE(c.get(kA, kOrigin, "/l402"));
  // Same label, another envelope (the token was rebound): another budget, so not shared.
  CHECK_FALSE(c.get(pay::TokenOwner{"agent-b", "env-x", true}, kOrigin, "/l402"));
  CHECK_FALSE(c.get(pay::TokenOwner{"agent-b", "", true}, kOrigin, "/l402"));
  // A token labelled "stdio" is not the stdio owner, and the stdio owner is not a token.
  CHECK_FALSE(c.get(kStdio, kOrigin, "/l402"));
  CHECK_FALSE(c.get(pay::TokenOwner{"agent-b", "env-b", false}, kOrigin, "/l402"));
  CHECK_FALSE(c.get(kB, "https://other.example.com:443", "/l402"));
  // drop() forgets only that owner's credentials.
  REQUIRE(c.put(kA, kOrigin, "/l402", "L402 mac-a:pre-a"));
  REQUIRE(c.drop(kA, kOrigin));
  CHECK_FALSE(c.get(kA, kOrigin, "/l402"));
  CHECK(c.get(kB, kOrigin, "/l402"));
}

TEST_CASE("token cache: persisted 0600 in format 2 with owners, and reloaded after a restart") {
  TempDir d;
  {
    pay::TokenCache c(d.file());
    REQUIRE(c.put(kA, kOrigin, "/x?q=1", "L402 a:1"));
    REQUIRE(c.put(kB, kOrigin, "/y", "L402 b:2"));
  }
  struct stat st {};
  REQUIRE(::stat(d.file().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(::access((d.file() + ".tmp").c_str(), F_OK) != 0);
  json j = read_json(d.file());
  CHECK(j["version"] == 2);
  REQUIRE(j["credentials"].size() == 2);
  CHECK(j["credentials"][0]["client"] == "agent-a");
  CHECK(j["credentials"][0]["envelope"] == "env-a");
  CHECK(j["credentials"][0]["hosted"] == true);
  CHECK(j["credentials"][0]["paths"] == json::array({"/x"}));  // the query is not part of the path
  pay::TokenCache again(d.file());
  CHECK(again.size() == 2);
  CHECK(again.get(kA, kOrigin, "/x") == std::optional<std::string>("L402 a:1"));
  CHECK(again.get(kB, kOrigin, "/y") == std::optional<std::string>("L402 b:2"));
  CHECK_FALSE(again.get(kA, kOrigin, "/y") == std::optional<std::string>("L402 b:2"));
}

TEST_CASE("token cache: an origin-only (format 1) file belongs to the stdio owner only") {
  TempDir d;
  write_text(d.file(), R"({"version":1,"tokens":{"https://api.example.com:443":"L402 old:cred","x":7}})");
  pay::TokenCache c(d.file());
  CHECK(c.size() == 1);  // the non-string entry is skipped
  CHECK(c.get(kStdio, kOrigin, "/anything") == std::optional<std::string>("L402 old:cred"));
  CHECK_FALSE(c.get(kA, kOrigin, "/anything"));
  CHECK_FALSE(c.get(pay::TokenOwner{"stdio", "", true}, kOrigin, "/anything"));  // a token labelled "stdio"
  CHECK_FALSE(c.get(pay::TokenOwner{"http-anonymous", "", false}, kOrigin, "/anything"));
  // Accepting it somewhere keeps it origin-wide (no write needed); the next change rewrites the file in format 2.
  REQUIRE(c.accepted(kStdio, kOrigin, "/a", "L402 old:cred"));
  CHECK(read_json(d.file())["tokens"].is_object());
  REQUIRE(c.put(kA, kOrigin, "/a", "L402 new:a"));
  json j = read_json(d.file());
  CHECK(j["version"] == 2);
  REQUIRE(j["credentials"].size() == 2);
  CHECK(j["credentials"][0]["client"] == "stdio");
  CHECK(j["credentials"][0]["hosted"] == false);
  CHECK(j["credentials"][0]["paths"] == json::array());
  // Unknown paths mean origin-wide: a refusal anywhere drops it (as format 1 did).
  auto dropped = c.rejected(kStdio, kOrigin, "/b", "L402 old:cred");
  REQUIRE(dropped);
  CHECK(*dropped);
  CHECK_FALSE(c.get(kStdio, kOrigin, "/a"));
}

TEST_CASE("token cache: unreadable, foreign or newer files are ignored, never crash, and get replaced") {
  TempDir d;
  for (const char* text : {"not json", "[]", R"({"version":3,"credentials":[]})", R"({"version":2,"credentials":{}})",
                           R"({"version":2,"credentials":[{"client":"a"},7,{"client":"a","envelope":"","hosted":"yes",
                               "origin":"o","authorization":"L402 x:y"}]})"}) {
    write_text(d.file(), text);
    pay::TokenCache c(d.file());
    INFO(text);
    CHECK(c.size() == 0);
    CHECK_FALSE(c.get(kStdio, "o", "/"));
    REQUIRE(c.put(kStdio, "o", "/", "L402 fresh:1"));
    CHECK(read_json(d.file())["version"] == 2);
  }
}

TEST_CASE("token cache: a refusal drops a credential only where it was paid for or accepted") {
  TempDir d;
  pay::TokenCache c(d.file());
  REQUIRE(c.put(kA, kOrigin, "/l402", "L402 x:1"));
  // Refused at another path (another service's macaroon, say): kept, still used where it works.
  auto r = c.rejected(kA, kOrigin, "/aperture", "L402 x:1");
  REQUIRE(r);
  CHECK_FALSE(*r);
  REQUIRE(c.put(kA, kOrigin, "/aperture", "L402 y:2"));
  CHECK(c.get(kA, kOrigin, "/l402") == std::optional<std::string>("L402 x:1"));
  CHECK(c.get(kA, kOrigin, "/aperture") == std::optional<std::string>("L402 y:2"));
  CHECK(c.get(kA, kOrigin, "/new") == std::optional<std::string>("L402 y:2"));  // no match: the newest
  // Accepted at a path: preferred there from now on.
  REQUIRE(c.accepted(kA, kOrigin, "/l402/sub/item", "L402 x:1"));
  CHECK(c.get(kA, kOrigin, "/l402/sub/item") == std::optional<std::string>("L402 x:1"));
  CHECK(c.get(kA, kOrigin, "/l402/sub/other") == std::optional<std::string>("L402 x:1"));  // longest shared prefix
  // Refused where it had been accepted: revoked or expired → dropped.
  r = c.rejected(kA, kOrigin, "/l402/sub/item", "L402 x:1");
  REQUIRE(r);
  CHECK(*r);
  CHECK(c.get(kA, kOrigin, "/l402") == std::optional<std::string>("L402 y:2"));
  // Refused where it was paid for: dropped too.
  r = c.rejected(kA, kOrigin, "/aperture", "L402 y:2");
  REQUIRE(r);
  CHECK(*r);
  CHECK_FALSE(c.get(kA, kOrigin, "/aperture"));
  // Another owner's refusal never touches this owner's credential.
  REQUIRE(c.put(kA, kOrigin, "/l402", "L402 z:3"));
  r = c.rejected(kB, kOrigin, "/l402", "L402 z:3");
  REQUIRE(r);
  CHECK_FALSE(*r);
  CHECK(c.get(kA, kOrigin, "/l402") == std::optional<std::string>("L402 z:3"));
}

TEST_CASE("token cache: bounded per owner and origin, and paths per credential") {
  TempDir d;
  pay::TokenCache c(d.file());
  for (size_t i = 0; i < pay::TokenCache::kMaxPerOrigin + 3; ++i)
    REQUIRE(c.put(kA, kOrigin, "/p" + std::to_string(i), "L402 m:" + std::to_string(i)));
  REQUIRE(c.put(kB, kOrigin, "/p0", "L402 b:0"));
  CHECK(c.size() == pay::TokenCache::kMaxPerOrigin + 1);
  CHECK(c.get(kA, kOrigin, "/p0") != std::optional<std::string>("L402 m:0"));  // the oldest went
  CHECK(c.get(kA, kOrigin, "/p10") == std::optional<std::string>("L402 m:10"));
  CHECK(c.get(kB, kOrigin, "/p0") == std::optional<std::string>("L402 b:0"));
  for (size_t i = 0; i < pay::TokenCache::kMaxPaths + 5; ++i)
    REQUIRE(c.accepted(kB, kOrigin, "/q" + std::to_string(i), "L402 b:0"));
  json j = read_json(d.file());
  for (const auto& e : j["credentials"])
    if (e["client"] == "agent-b") CHECK(e["paths"].size() == pay::TokenCache::kMaxPaths);
}
