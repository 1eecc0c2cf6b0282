// Address classification for the SSRF guard and allow-list matching.
#include <arpa/inet.h>

#include <cstring>

#include "fetch/internal.h"

namespace sw::fetch::detail {


// Hand-written on purpose: inet_aton()/inet_addr() accept the ambiguous forms (octal, hex, short) that
// the guard must refuse, and we want one exact rule shared by URL parsing and the allow-list.
std::optional<Ip> parse_ipv4_strict(std::string_view s) {
  Ip ip;
  size_t part = 0, i = 0;
  while (part < 4) {
    size_t start = i;
    unsigned v = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i - start < 4) v = v * 10 + unsigned(s[i++] - '0');
    size_t len = i - start;
    if (len == 0 || len > 3 || v > 255 || (len > 1 && s[start] == '0')) return std::nullopt;
    ip.b[part++] = static_cast<uint8_t>(v);
    if (part < 4) {
      if (i >= s.size() || s[i] != '.') return std::nullopt;
      ++i;
    }
  }
  if (i != s.size()) return std::nullopt;
  return ip;
}

std::optional<Ip> parse_ipv6(std::string_view s) {
  if (s.empty() || s.size() > 45 || s.find(':') == std::string_view::npos) return std::nullopt;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    if (!ok) return std::nullopt;  // no zone ids, no garbage
  }
  std::string z(s);
  Ip ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, z.c_str(), ip.b.data()) != 1) return std::nullopt;
  return ip;
}

std::optional<Ip> parse_ip(std::string_view s) {
  if (auto v4 = parse_ipv4_strict(s)) return v4;
  return parse_ipv6(s);
}

std::string ip_to_string(const Ip& ip) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (!inet_ntop(ip.v6 ? AF_INET6 : AF_INET, ip.b.data(), buf, sizeof buf)) return "?";
  return buf;
}

namespace {

uint32_t v4_u32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

bool in_v4(uint32_t a, uint32_t net, int bits) {
  uint32_t mask = bits == 0 ? 0 : ~uint32_t(0) << (32 - bits);
  return (a & mask) == (net & mask);
}

constexpr uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d) { return (a << 24) | (b << 16) | (c << 8) | d; }

// Prefix match on raw bytes.
bool prefix_match(const uint8_t* a, const uint8_t* net, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(a, net, size_t(full)) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (a[full] & mask) == (net[full] & mask);
}

bool in_v6(const Ip& ip, std::initializer_list<uint8_t> prefix_bytes, int bits) {
  uint8_t net[16] = {0};
  size_t i = 0;
  for (auto b : prefix_bytes) net[i++] = b;
  return prefix_match(ip.b.data(), net, bits);
}

AddressClass cls(bool forbidden, std::string name) { return AddressClass{forbidden, std::move(name)}; }

AddressClass classify_v4(uint32_t a) {
  struct Range {
    uint32_t net;
    int bits;
    const char* name;
  };
  // Most specific first. Everything not listed is public unicast.
  static const Range ranges[] = {
      {v4(169, 254, 169, 254), 32, "link-local / cloud metadata"},
      {v4(100, 100, 100, 200), 32, "CGNAT / cloud metadata"},
      {v4(192, 0, 0, 192), 32, "IETF protocol assignments / cloud metadata"},
      {v4(255, 255, 255, 255), 32, "broadcast"},
      {v4(0, 0, 0, 0), 8, "unspecified (this network)"},
      {v4(10, 0, 0, 0), 8, "private"},
      {v4(100, 64, 0, 0), 10, "CGNAT (shared address space)"},
      {v4(127, 0, 0, 0), 8, "loopback"},
      {v4(169, 254, 0, 0), 16, "link-local"},
      {v4(172, 16, 0, 0), 12, "private"},
      {v4(192, 0, 0, 0), 24, "reserved (IETF protocol assignments)"},
      {v4(192, 0, 2, 0), 24, "documentation"},
      {v4(192, 88, 99, 0), 24, "reserved (6to4 relay anycast)"},
      {v4(192, 168, 0, 0), 16, "private"},
      {v4(198, 18, 0, 0), 15, "benchmarking"},
      {v4(198, 51, 100, 0), 24, "documentation"},
      {v4(203, 0, 113, 0), 24, "documentation"},
      {v4(224, 0, 0, 0), 4, "multicast"},
      {v4(240, 0, 0, 0), 4, "reserved"},
  };
  for (const auto& r : ranges)
    if (in_v4(a, r.net, r.bits)) return cls(true, r.name);
  return cls(false, "public");
}

std::string dotted(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 0xFF) + "." + std::to_string((a >> 8) & 0xFF) +
         "." + std::to_string(a & 0xFF);
}

// An IPv6 form that carries an IPv4 address: the verdict is the embedded address's.
AddressClass embedded(const char* what, uint32_t a) {
  AddressClass inner = classify_v4(a);
  return cls(inner.forbidden, std::string(what) + " of " + dotted(a) + " (" + inner.name + ")");
}

AddressClass classify_v6(const Ip& ip) {
  const uint8_t* b = ip.b.data();
  static const uint8_t zero[16] = {0};
  bool first12_zero = std::memcmp(b, zero, 12) == 0;
  if (std::memcmp(b, zero, 16) == 0) return cls(true, "unspecified");
  if (first12_zero && b[12] == 0 && b[13] == 0 && b[14] == 0 && b[15] == 1) return cls(true, "loopback");
  if (std::memcmp(b, zero, 10) == 0 && b[10] == 0xFF && b[11] == 0xFF)
    return embedded("IPv4-mapped IPv6", v4_u32(b + 12));
  // ::ffff:0:a.b.c.d (SIIT, RFC 2765) and ::a.b.c.d (deprecated IPv4-compatible): no legitimate public use.
  if (std::memcmp(b, zero, 8) == 0 && b[8] == 0xFF && b[9] == 0xFF && b[10] == 0 && b[11] == 0)
    return cls(true, "reserved (IPv4-translated " + dotted(v4_u32(b + 12)) + ")");
  if (first12_zero) return cls(true, "reserved (deprecated IPv4-compatible " + dotted(v4_u32(b + 12)) + ")");
  if (in_v6(ip, {0x00, 0x64, 0xff, 0x9b}, 96)) return embedded("NAT64", v4_u32(b + 12));
  if (in_v6(ip, {0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48)) return cls(true, "private (NAT64 local-use)");
  if (in_v6(ip, {0x01, 0x00}, 64)) return cls(true, "reserved (discard-only)");
  if (in_v6(ip, {0x20, 0x01, 0x00, 0x00}, 32)) return cls(true, "Teredo tunnel");
  if (in_v6(ip, {0x20, 0x01, 0x00, 0x02, 0x00, 0x00}, 48)) return cls(true, "benchmarking");
  if (in_v6(ip, {0x20, 0x01, 0x00, 0x00}, 23)) return cls(true, "reserved (IETF protocol assignments)");
  if (in_v6(ip, {0x20, 0x01, 0x0d, 0xb8}, 32)) return cls(true, "documentation");
  if (in_v6(ip, {0x20, 0x02}, 16)) return embedded("6to4", v4_u32(b + 2));
  if (in_v6(ip, {0x3f, 0xff}, 20)) return cls(true, "documentation");
  static const uint8_t aws_metadata[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
  if (std::memcmp(b, aws_metadata, 16) == 0) return cls(true, "private / cloud metadata");
  if (in_v6(ip, {0xfc}, 7)) return cls(true, "private (unique local)");
  if (in_v6(ip, {0xfe, 0x80}, 10)) return cls(true, "link-local");
  if (in_v6(ip, {0xfe, 0xc0}, 10)) return cls(true, "private (site-local, deprecated)");
  if (in_v6(ip, {0xff}, 8)) return cls(true, "multicast");
  if (!in_v6(ip, {0x20}, 3)) return cls(true, "reserved (not global unicast)");
  return cls(false, "public");
}

}  // namespace

AddressClass classify(const Ip& ip) { return ip.v6 ? classify_v6(ip) : classify_v4(v4_u32(ip.b.data())); }

// ---------- allow-list ----------

Result<AllowList> AllowList::parse(const std::vector<std::string>& entries) {
  AllowList out;
  for (size_t i = 0; i < entries.size(); ++i) {
    std::string_view e = sw::trim(entries[i]);
    auto bad = [&](const std::string& why) {
      return make_error("OPTIONS_INVALID", "allow-list entry #" + std::to_string(i + 1) + ": " + why);
    };
    if (e.empty()) return bad("empty");
    if (e.size() > 300) return bad("too long");
    std::string_view addr = e;
    std::optional<int> bits;
    if (auto slash = e.find('/'); slash != std::string_view::npos) {
      addr = e.substr(0, slash);
      std::string_view b = e.substr(slash + 1);
      if (b.empty() || b.size() > 3) return bad("bad prefix length");
      int v = 0;
      for (char c : b) {
        if (c < '0' || c > '9') return bad("bad prefix length");
        v = v * 10 + (c - '0');
      }
      bits = v;
    }
    if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
    if (auto ip = parse_ip(addr)) {
      int max = ip->v6 ? 128 : 32;
      int n = bits.value_or(max);
      if (n < 0 || n > max) return bad("prefix length out of range");
      out.nets_.push_back(Net{*ip, n});
      continue;
    }
    if (bits) return bad("CIDR base is not an IPv4 dotted quad or IPv6 address");
    for (char c : addr) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
      if (!ok) return bad("not a host name, address or CIDR");
    }
    out.hosts_.push_back(ascii_lower(addr));
  }
  return out;
}

bool AllowList::allows_host(std::string_view host) const {
  for (const auto& h : hosts_)
    if (ascii_iequals(h, host)) return true;
  return false;
}

bool AllowList::allows_address(const Ip& ip) const {
  static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  bool is_mapped = ip.v6 && std::memcmp(ip.b.data(), mapped_prefix, 12) == 0;
  for (const auto& n : nets_) {
    if (n.base.v6 == ip.v6) {
      if (prefix_match(ip.b.data(), n.base.b.data(), n.bits)) return true;
    } else if (is_mapped && !n.base.v6) {
      if (prefix_match(ip.b.data() + 12, n.base.b.data(), n.bits)) return true;
    }
  }
  return false;
}

}  // namespace sw::fetch::detail

namespace sw::fetch {

std::optional<AddressClass> classify_address(std::string_view ip) {
  auto parsed = detail::parse_ip(ip);
  if (!parsed) return std::nullopt;
  return detail::classify(*parsed);
}

}  // namespace sw::fetch
