// Outbound URLs and the SSRF guard (URLs come from agents; Location headers from paid APIs): fetch::parse_url on
// the first line, resolve_url of the second line against it (a redirect), classify_address on every line, and the
// allow-list parser on the third line's comma-separated entries. Properties: a parsed URL's to_string() parses to
// the same URL; IP literals print in a form that parses back to the same address and class; a forbidden address
// stays forbidden whatever spelling of it parse_url accepted.
#include "fetch/internal.h"
#include "fuzz.h"

using namespace sw;
namespace fd = sw::fetch::detail;

namespace {

bool same(const fetch::Url& a, const fetch::Url& b) {
  return a.scheme == b.scheme && a.host == b.host && a.host_is_ip == b.host_is_ip && a.port == b.port &&
         a.target == b.target;
}

void check_url(const fetch::Url& u) {
  SW_FUZZ_CHECK(u.scheme == "http" || u.scheme == "https");
  SW_FUZZ_CHECK(!u.target.empty() && u.target[0] == '/');
  SW_FUZZ_CHECK(u.port != 0);
  auto again = fetch::parse_url(u.to_string());
  SW_FUZZ_CHECK(again.ok() && same(*again, u));
  if (u.host_is_ip) {
    auto c = fetch::classify_address(u.host);
    SW_FUZZ_CHECK(c.has_value());
  }
}

void check_ip(std::string_view s) {
  auto ip = fd::parse_ip(s);
  auto c = fetch::classify_address(s);
  SW_FUZZ_CHECK(ip.has_value() == c.has_value());
  if (!ip) return;
  const std::string printed = fd::ip_to_string(*ip);
  auto back = fd::parse_ip(printed);
  SW_FUZZ_CHECK(back && back->v6 == ip->v6 && back->b == ip->b);
  auto c2 = fetch::classify_address(printed);
  SW_FUZZ_CHECK(c2 && c2->forbidden == c->forbidden && c2->name == c->name);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto lines = fuzz::split(fuzz::as_text(data, size), "\n");
  for (auto line : lines) check_ip(line);
  auto base = fetch::parse_url(lines[0]);
  if (base) {
    check_url(*base);
    if (lines.size() > 1) {
      auto next = fetch::resolve_url(*base, lines[1]);
      if (next) check_url(*next);
      else SW_FUZZ_CHECK(next.error().code == "URL_INVALID" || next.error().code == "URL_FORBIDDEN");
    }
  } else {
    SW_FUZZ_CHECK(base.error().code == "URL_INVALID" || base.error().code == "URL_FORBIDDEN");
  }
  if (lines.size() > 2) {
    std::vector<std::string> entries;
    for (auto e : fuzz::split(lines[2], ",")) entries.emplace_back(e);
    auto allow = fd::AllowList::parse(entries);
    if (allow) {
      if (base) (void)allow->allows_host(base->host);
      for (auto line : lines)
        if (auto ip = fd::parse_ip(line)) (void)allow->allows_address(*ip);
    } else {
      SW_FUZZ_CHECK(allow.error().code == "OPTIONS_INVALID");
    }
  }
  return 0;
}
