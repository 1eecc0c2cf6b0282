// "Loopback needs no token": loopback is decided by parsing the bind host, never by its prefix.
#include <catch2/catch.hpp>

#include "config/config.h"

using namespace sw;
using namespace sw::config;

namespace {
std::optional<std::string> no_env(const char* name) {
  if (std::string(name) == "HOME") return std::string("/home/u");  // where the data directory would be
  return std::nullopt;
}
Result<Loaded> load_http(const char* host) {
  std::vector<const char*> args{"satwarden", "--transport", "http", "--host", host};
  auto r = load(static_cast<int>(args.size()), args.data(), no_env);
  if (!r) UNSCOPED_INFO(host << ": " << r.error().message);
  return r;
}
bool loopback(const std::string& host) {
  Config c;
  c.host = host;
  return c.loopback_bind();
}
}  // namespace

TEST_CASE("loopback_bind parses the host: 127.0.0.0/8, ::1 or exactly localhost") {
  for (const char* yes : {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "[::1]", "0:0:0:0:0:0:0:1",
                          "::ffff:127.0.0.1", "localhost", "LOCALHOST"}) {
    INFO(yes);
    CHECK(loopback(yes));
  }
  for (const char* no : {"127.0.0.1.nip.io", "127.evil.com", "127.", "127.1", "0x7f.0.0.1", "0177.0.0.1",
                         "127.0.0.1 ", " 127.0.0.1", "localhost.evil.com", "localhost.", "0.0.0.0", "::", "::2",
                         "128.0.0.1", "[::1", "", "1.2.3.4"}) {
    INFO(no);
    CHECK_FALSE(loopback(no));
  }
}

TEST_CASE("binding a name that merely starts with 127. needs tokens") {
  auto spoof = load_http("127.0.0.1.nip.io");
  REQUIRE_FALSE(spoof);
  CHECK(spoof.error().code == "CONFIG_INVALID");
  CHECK(spoof.error().message.find("token") != std::string::npos);
  REQUIRE_FALSE(load_http("127.1"));
  CHECK(load_http("127.0.0.1"));
  CHECK(load_http("127.0.0.9"));
  CHECK(load_http("::1"));
  CHECK(load_http("localhost"));
}
