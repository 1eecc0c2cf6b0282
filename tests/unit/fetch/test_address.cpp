// SSRF address classifier and URL parsing (no network).
#include <catch2/catch.hpp>

#include "fetch/fetch.h"

using namespace sw;
using namespace sw::fetch;

namespace {
struct Case {
  const char* ip;
  bool forbidden;
  const char* name_part;  // substring expected in the class name
};
}  // namespace

TEST_CASE("classify_address: IPv4 table", "[fetch][ssrf]") {
  const Case cases[] = {
      {"8.8.8.8", false, "public"},
      {"1.1.1.1", false, "public"},
      {"93.184.216.34", false, "public"},
      {"11.0.0.1", false, "public"},
      {"172.15.255.255", false, "public"},
      {"172.32.0.0", false, "public"},
      {"100.63.255.255", false, "public"},
      {"100.128.0.0", false, "public"},
      {"198.17.255.255", false, "public"},
      {"198.20.0.0", false, "public"},
      {"223.255.255.255", false, "public"},
      {"169.253.255.255", false, "public"},
      {"127.0.0.1", true, "loopback"},
      {"127.255.255.254", true, "loopback"},
      {"10.0.0.1", true, "private"},
      {"10.255.255.255", true, "private"},
      {"172.16.0.1", true, "private"},
      {"172.31.255.255", true, "private"},
      {"192.168.1.1", true, "private"},
      {"169.254.0.1", true, "link-local"},
      {"169.254.169.254", true, "cloud metadata"},
      {"100.64.0.1", true, "CGNAT"},
      {"100.127.255.255", true, "CGNAT"},
      {"100.100.100.200", true, "cloud metadata"},
      {"224.0.0.1", true, "multicast"},
      {"239.255.255.250", true, "multicast"},
      {"0.0.0.0", true, "unspecified"},
      {"0.1.2.3", true, "unspecified"},
      {"255.255.255.255", true, "broadcast"},
      {"240.0.0.1", true, "reserved"},
      {"254.1.1.1", true, "reserved"},
      {"198.18.0.1", true, "benchmarking"},
      {"198.19.255.255", true, "benchmarking"},
      {"192.0.2.10", true, "documentation"},
      {"198.51.100.7", true, "documentation"},
      {"203.0.113.9", true, "documentation"},
      {"192.0.0.8", true, "IETF"},
      {"192.0.0.192", true, "cloud metadata"},
      {"192.88.99.1", true, "6to4 relay"},
  };
  for (const auto& c : cases) {
    INFO(c.ip);
    auto r = classify_address(c.ip);
    REQUIRE(r.has_value());
    CHECK(r->forbidden == c.forbidden);
    CHECK(r->name.find(c.name_part) != std::string::npos);
  }
}

TEST_CASE("classify_address: IPv6 table incl. embedded IPv4 forms", "[fetch][ssrf]") {
  const Case cases[] = {
      {"2606:4700:4700::1111", false, "public"},
      {"2001:4860:4860::8888", false, "public"},
      {"2a00:1450:4001::1", false, "public"},
      {"::1", true, "loopback"},
      {"::", true, "unspecified"},
      {"fc00::1", true, "unique local"},
      {"fdff:ffff::1", true, "unique local"},
      {"fd00:ec2::254", true, "cloud metadata"},
      {"fe80::1", true, "link-local"},
      {"febf::1", true, "link-local"},
      {"fec0::1", true, "site-local"},
      {"ff02::1", true, "multicast"},
      {"ff05::2", true, "multicast"},
      {"2001:db8::1", true, "documentation"},
      {"3fff::1", true, "documentation"},
      {"2001::1", true, "Teredo"},
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", true, "Teredo"},
      {"2001:2::1", true, "benchmarking"},
      {"2001:10::1", true, "IETF"},
      {"100::1", true, "discard"},
      {"64:ff9b:1::1", true, "NAT64 local-use"},
      {"4000::1", true, "not global unicast"},
      {"1::1", true, "not global unicast"},
      // IPv4-mapped: the verdict is the embedded address's.
      {"::ffff:127.0.0.1", true, "IPv4-mapped IPv6 of 127.0.0.1 (loopback)"},
      {"::ffff:7f00:1", true, "loopback"},
      {"::ffff:169.254.169.254", true, "cloud metadata"},
      {"::ffff:10.1.2.3", true, "private"},
      {"::ffff:8.8.8.8", false, "IPv4-mapped IPv6 of 8.8.8.8 (public)"},
      {"::ffff:0:127.0.0.1", true, "IPv4-translated"},
      // Deprecated IPv4-compatible: always refused.
      {"::127.0.0.1", true, "IPv4-compatible"},
      {"::8.8.8.8", true, "IPv4-compatible"},
      // NAT64 well-known prefix.
      {"64:ff9b::7f00:1", true, "NAT64 of 127.0.0.1 (loopback)"},
      {"64:ff9b::a9fe:a9fe", true, "NAT64 of 169.254.169.254"},
      {"64:ff9b::808:808", false, "NAT64 of 8.8.8.8 (public)"},
      // 6to4 embeds the v4 in bytes 2..5.
      {"2002:7f00:1::1", true, "6to4 of 127.0.0.1 (loopback)"},
      {"2002:c0a8:101::1", true, "6to4 of 192.168.1.1 (private)"},
      {"2002:a9fe:a9fe::", true, "cloud metadata"},
      {"2002:808:808::1", false, "6to4 of 8.8.8.8 (public)"},
  };
  for (const auto& c : cases) {
    INFO(c.ip);
    auto r = classify_address(c.ip);
    REQUIRE(r.has_value());
    CHECK(r->forbidden == c.forbidden);
    CHECK(r->name.find(c.name_part) != std::string::npos);
  }
}

TEST_CASE("classify_address: only canonical literals are addresses", "[fetch][ssrf]") {
  for (const char* s : {"2130706433", "0177.0.0.1", "0x7f.1", "127.1", "127.0.1", "0x7f000001", "017700000001",
                        "127.0.0.01", "127.0.0.1.", " 127.0.0.1", "127.0.0.256", "1.2.3.4.5", "localhost", "",
                        "[::1]", "fe80::1%eth0", "::1%25lo", "1:2:3:4:5:6:7:8:9", "gggg::1"}) {
    INFO(s);
    CHECK_FALSE(classify_address(s).has_value());
  }
}

TEST_CASE("parse_url: accepted forms", "[fetch][url]") {
  struct Ok {
    const char* in;
    const char* scheme;
    const char* host;
    bool is_ip;
    int port;
    const char* target;
  };
  const Ok cases[] = {
      {"http://example.com", "http", "example.com", false, 80, "/"},
      {"https://Example.COM/Path?q=1#frag", "https", "example.com", false, 443, "/Path?q=1"},
      {"HTTPS://api.example.com:8443/v1/x?a=b+c&d=%20e", "https", "api.example.com", false, 8443,
       "/v1/x?a=b+c&d=%20e"},
      {"http://example.com?x=1", "http", "example.com", false, 80, "/?x=1"},
      {"http://example.com:/a", "http", "example.com", false, 80, "/a"},
      {"http://1.2.3.4:8080/", "http", "1.2.3.4", true, 8080, "/"},
      {"http://[::1]:9000/a", "http", "::1", true, 9000, "/a"},
      {"http://[2001:DB8:0:0::1]/", "http", "2001:db8::1", true, 80, "/"},
      {"http://[::ffff:127.0.0.1]/", "http", "::ffff:127.0.0.1", true, 80, "/"},
      {"  http://xn--bcher-kva.example/  ", "http", "xn--bcher-kva.example", false, 80, "/"},
      {"http://example.com/a b/\xc3\xa9?q=\"x\"", "http", "example.com", false, 80, "/a%20b/%C3%A9?q=%22x%22"},
      {"http://example.com#only-fragment", "http", "example.com", false, 80, "/"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto r = parse_url(c.in);
    REQUIRE(r.ok());
    CHECK(r->scheme == c.scheme);
    CHECK(r->host == c.host);
    CHECK(r->host_is_ip == c.is_ip);
    CHECK(r->port == c.port);
    CHECK(r->target == c.target);
  }
  auto u = parse_url("https://example.com:8443/x?y");
  REQUIRE(u.ok());
  CHECK(u->origin() == "https://example.com:8443");
  CHECK(u->to_string() == "https://example.com:8443/x?y");
  CHECK(parse_url("https://example.com/x")->to_string() == "https://example.com/x");
  CHECK(parse_url("http://[::1]:81/")->origin() == "http://[::1]:81");
}

TEST_CASE("parse_url: refused forms", "[fetch][url]") {
  struct Bad {
    const char* in;
    const char* code;
    const char* msg_part;
  };
  const Bad cases[] = {
      {"", "URL_INVALID", "empty"},
      {"ftp://example.com/", "URL_INVALID", "scheme 'ftp'"},
      {"file:///etc/passwd", "URL_INVALID", "scheme 'file'"},
      {"gopher://127.0.0.1:6379/", "URL_INVALID", "scheme"},
      {"example.com/path", "URL_INVALID", "absolute"},
      {"http:example.com", "URL_INVALID", "http://"},
      {"http:/example.com", "URL_INVALID", "http://"},
      {"http://user:pass@example.com/", "URL_INVALID", "credentials"},
      {"http://example.com@127.0.0.1/", "URL_INVALID", "credentials"},
      {"http://evil.com\\@good.com/", "URL_INVALID", "backslash"},
      {"http:///path", "URL_INVALID", "no host"},
      {"http://:80/", "URL_INVALID", "no host"},
      {"http://b\xc3\xbc" "cher.example/", "URL_INVALID", "IDN"},
      {"http://ex%61mple.com/", "URL_INVALID", "percent-encoded"},
      {"http://under_score.example/", "URL_INVALID", "'_'"},
      {"http://example..com/", "URL_INVALID", "empty label"},
      {"http://example.com./", "URL_INVALID", "trailing dot"},
      {"http://-bad.example/", "URL_INVALID", "'-'"},
      {"http://example.com:0/", "URL_INVALID", "port"},
      {"http://example.com:65536/", "URL_INVALID", "port"},
      {"http://example.com:80a/", "URL_INVALID", "port"},
      {"http://example.com:1:2/", "URL_INVALID", "brackets"},
      {"http://[::1/", "URL_INVALID", "unterminated"},
      {"http://[fe80::1%25eth0]/", "URL_INVALID", "zone"},
      {"http://[::1]x/", "URL_INVALID", "garbage"},
      {"http://[v1.abc]/", "URL_INVALID", "IPv6"},
      {"http://example.com/a\r\nX-Injected: 1", "URL_INVALID", "control"},
      {"http://example.com/a\nb", "URL_INVALID", "control"},
      {"http://exa\tmple.com/", "URL_INVALID", "control"},
      // Odd IPv4 literal forms are refused outright.
      {"http://2130706433/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://0177.0.0.1/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://0x7f.1/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://0x7f000001/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://127.1/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://127.0.1/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://127.000.000.001/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://1.2.3.4.5/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://256.1.1.1/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://example.123/", "URL_FORBIDDEN", "non-canonical IPv4"},
      {"http://foo.0x10/", "URL_FORBIDDEN", "non-canonical IPv4"},
  };
  for (const auto& c : cases) {
    std::string in = c.in;
    INFO(in);
    auto r = parse_url(in);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == c.code);
    CHECK(r.error().message.find(c.msg_part) != std::string::npos);
  }
  // Embedded NUL (the literal above is cut at the NUL by the C string).
  std::string with_nul("http://example.com/a\0b", 22);
  auto r = parse_url(with_nul);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "URL_INVALID");
}

TEST_CASE("resolve_url: Location forms", "[fetch][url]") {
  auto base = parse_url("https://api.example.com:8443/a/b/c?q=1");
  REQUIRE(base.ok());
  struct R {
    const char* ref;
    const char* expect;
  };
  const R cases[] = {
      {"/x", "https://api.example.com:8443/x"},
      {"/x?y=2#f", "https://api.example.com:8443/x?y=2"},
      {"d", "https://api.example.com:8443/a/b/d"},
      {"../d", "https://api.example.com:8443/a/d"},
      {"../../../../d", "https://api.example.com:8443/d"},
      {"./d/./e/../f", "https://api.example.com:8443/a/b/d/f"},
      {"?z=9", "https://api.example.com:8443/a/b/c?z=9"},
      {"", "https://api.example.com:8443/a/b/c?q=1"},
      {"#frag", "https://api.example.com:8443/a/b/c?q=1"},
      {"//other.example/p", "https://other.example/p"},
      {"http://api.example.com:8443/x", "http://api.example.com:8443/x"},
      {"HTTPS://API.example.com:8443/up", "https://api.example.com:8443/up"},
  };
  for (const auto& c : cases) {
    INFO(c.ref);
    auto r = resolve_url(*base, c.ref);
    REQUIRE(r.ok());
    CHECK(r->to_string() == c.expect);
  }
  CHECK_FALSE(resolve_url(*base, "javascript:alert(1)").ok());
  CHECK_FALSE(resolve_url(*base, "/a\r\nSet-Cookie: x").ok());
  auto ip = resolve_url(*base, "http://2130706433/");
  REQUIRE_FALSE(ip.ok());
  CHECK(ip.error().code == "URL_FORBIDDEN");
}
