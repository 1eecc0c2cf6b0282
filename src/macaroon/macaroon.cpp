// Macaroon codecs written from the format descriptions (go-macaroon packet-v2 / libmacaroons format.txt).
// Hand-written because Debian ships no C/C++ macaroon library usable here (libmacaroons is not packaged).
#include "macaroon/macaroon.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "crypto/crypto.h"

namespace sw::macaroon {

namespace {

constexpr uint64_t kFieldEos = 0;
constexpr uint64_t kFieldLocation = 1;
constexpr uint64_t kFieldIdentifier = 2;
constexpr uint64_t kFieldVid = 4;
constexpr uint64_t kFieldSignature = 6;

Error bad(std::string msg) { return make_error("INVALID_MACAROON", std::move(msg)); }

// ---------------- V2 binary ----------------

class Reader {
 public:
  explicit Reader(const Bytes& b) : b_(b) {}
  size_t pos() const { return pos_; }
  bool at_end() const { return pos_ >= b_.size(); }
  uint8_t peek() const { return b_[pos_]; }

  // Protobuf-style unsigned LEB128, at most 64 bits.
  std::optional<uint64_t> varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) return std::nullopt;
      uint8_t c = b_[pos_++];
      if (shift == 63 && (c & 0x7e) != 0) return std::nullopt;  // overflows 64 bits
      v |= uint64_t(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    return std::nullopt;
  }
  bool take(size_t n, Bytes& out) {
    if (n > b_.size() - pos_) return false;
    out.assign(b_.begin() + static_cast<std::ptrdiff_t>(pos_), b_.begin() + static_cast<std::ptrdiff_t>(pos_ + n));
    pos_ += n;
    return true;
  }

 private:
  const Bytes& b_;
  size_t pos_ = 0;
};

struct Field {
  uint64_t type = 0;
  Bytes data;
};

// Reads one field; type 0 (EOS) has no length/data.
Result<Field> read_field(Reader& r, const char* where) {
  size_t at = r.pos();
  auto type = r.varint();
  if (!type) return bad(std::string("macaroon V2: truncated or oversized field type in ") + where + " at offset " +
                        std::to_string(at));
  Field f;
  f.type = *type;
  if (f.type == kFieldEos) return f;
  auto len = r.varint();
  if (!len) return bad(std::string("macaroon V2: truncated field length in ") + where + " at offset " +
                       std::to_string(at));
  if (!r.take(static_cast<size_t>(*len), f.data))
    return bad(std::string("macaroon V2: field of type ") + std::to_string(f.type) + " in " + where +
               " claims " + std::to_string(*len) + " bytes but the data ends first (offset " + std::to_string(at) +
               ")");
  return f;
}

// Reads fields up to and including EOS; types must be strictly increasing and in `allowed`.
Result<std::vector<Field>> read_section(Reader& r, const char* where, std::initializer_list<uint64_t> allowed) {
  std::vector<Field> out;
  uint64_t last = 0;
  for (;;) {
    if (r.at_end()) return bad(std::string("macaroon V2: ") + where + " is not terminated (missing end-of-section)");
    auto f = read_field(r, where);
    if (!f) return f.error();
    if (f->type == kFieldEos) return out;
    if (std::find(allowed.begin(), allowed.end(), f->type) == allowed.end())
      return bad(std::string("macaroon V2: field type ") + std::to_string(f->type) + " is not allowed in " + where);
    if (f->type <= last)
      return bad(std::string("macaroon V2: field types out of order in ") + where + " (" + std::to_string(f->type) +
                 " after " + std::to_string(last) + ")");
    last = f->type;
    out.push_back(std::move(f.value()));
  }
}

Result<Macaroon> decode_v2(const Bytes& raw) {
  Reader r(raw);
  Bytes ver;
  (void)r.take(1, ver);  // 0x02 already checked by the caller
  Macaroon m;
  m.format = Format::V2;
  auto header = read_section(r, "header", {kFieldLocation, kFieldIdentifier});
  if (!header) return header.error();
  bool have_id = false;
  for (auto& f : *header) {
    if (f.type == kFieldLocation) m.location = to_string(f.data);
    if (f.type == kFieldIdentifier) {
      m.identifier = std::move(f.data);
      have_id = true;
    }
  }
  if (!have_id) return bad("macaroon V2: header has no identifier");
  for (size_t n = 0;; ++n) {
    if (r.at_end()) return bad("macaroon V2: caveat list is not terminated");
    if (r.peek() == 0) {  // end of caveats
      Bytes skip;
      (void)r.take(1, skip);
      break;
    }
    std::string where = "caveat " + std::to_string(n);
    auto sec = read_section(r, where.c_str(), {kFieldLocation, kFieldIdentifier, kFieldVid});
    if (!sec) return sec.error();
    Caveat c;
    bool cid = false;
    for (auto& f : *sec) {
      if (f.type == kFieldLocation) c.location = to_string(f.data);
      if (f.type == kFieldIdentifier) {
        c.identifier = std::move(f.data);
        cid = true;
      }
      // An empty vid packet (as the erroneous L402 macaroon-spec.md draws it) means "first party", exactly
      // as go-macaroon treats an empty VerificationId; re-encoding omits it.
      if (f.type == kFieldVid && !f.data.empty()) c.vid = std::move(f.data);
    }
    if (!cid) return bad("macaroon V2: " + where + " has no identifier");
    m.caveats.push_back(std::move(c));
  }
  if (r.at_end()) return bad("macaroon V2: missing signature");
  auto sig = read_field(r, "signature section");
  if (!sig) return sig.error();
  if (sig->type != kFieldSignature)
    return bad("macaroon V2: expected signature field (type 6), got type " + std::to_string(sig->type));
  if (sig->data.size() != 32)
    return bad("macaroon V2: signature must be 32 bytes, got " + std::to_string(sig->data.size()));
  std::copy(sig->data.begin(), sig->data.end(), m.signature.begin());
  if (!r.at_end())
    return bad("macaroon V2: " + std::to_string(raw.size() - r.pos()) + " unexpected byte(s) after the signature");
  return m;
}

// ---------------- V1 text packets ----------------

int hexval(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool starts_with_hex4(const Bytes& raw) {
  if (raw.size() < 4) return false;
  for (size_t i = 0; i < 4; ++i)
    if (hexval(raw[i]) < 0) return false;
  return true;
}

Result<Macaroon> decode_v1(const Bytes& raw) {
  Macaroon m;
  m.format = Format::V1;
  enum class St { Start, AfterLocation, AfterId, Done } st = St::Start;
  size_t pos = 0;
  while (pos < raw.size()) {
    if (raw.size() - pos < 4) return bad("macaroon V1: truncated packet header at offset " + std::to_string(pos));
    size_t len = 0;
    for (size_t i = 0; i < 4; ++i) {
      int v = hexval(raw[pos + i]);
      if (v < 0) return bad("macaroon V1: packet length is not 4 hex digits at offset " + std::to_string(pos));
      len = len * 16 + static_cast<size_t>(v);
    }
    if (len < 6) return bad("macaroon V1: packet too short at offset " + std::to_string(pos));
    if (len > raw.size() - pos) return bad("macaroon V1: packet at offset " + std::to_string(pos) + " is truncated");
    if (raw[pos + len - 1] != '\n')
      return bad("macaroon V1: packet at offset " + std::to_string(pos) + " does not end with a newline");
    auto body_begin = raw.begin() + static_cast<std::ptrdiff_t>(pos + 4);
    auto body_end = raw.begin() + static_cast<std::ptrdiff_t>(pos + len - 1);
    auto sp = std::find(body_begin, body_end, uint8_t(' '));
    if (sp == body_end) return bad("macaroon V1: packet at offset " + std::to_string(pos) + " has no key separator");
    std::string key(body_begin, sp);
    Bytes value(sp + 1, body_end);
    size_t at = pos;
    pos += len;
    if (st == St::Done) return bad("macaroon V1: data after the signature packet");
    if (key == "location") {
      if (st != St::Start) return bad("macaroon V1: location packet must come first");
      m.location = to_string(value);
      st = St::AfterLocation;
    } else if (key == "identifier") {
      if (st == St::AfterId) return bad("macaroon V1: duplicate identifier packet");
      m.identifier = std::move(value);
      st = St::AfterId;
    } else if (key == "cid") {
      if (st != St::AfterId) return bad("macaroon V1: caveat before identifier");
      Caveat c;
      c.identifier = std::move(value);
      m.caveats.push_back(std::move(c));
    } else if (key == "vid" || key == "cl") {
      if (st != St::AfterId || m.caveats.empty())
        return bad("macaroon V1: " + key + " packet without a preceding cid at offset " + std::to_string(at));
      if (key == "vid") {
        if (m.caveats.back().vid) return bad("macaroon V1: duplicate vid packet");
        if (!value.empty()) m.caveats.back().vid = std::move(value);
      } else {
        if (m.caveats.back().location) return bad("macaroon V1: duplicate cl packet");
        m.caveats.back().location = to_string(value);
      }
    } else if (key == "signature") {
      if (st != St::AfterId) return bad("macaroon V1: signature before identifier");
      if (value.size() != 32) return bad("macaroon V1: signature must be 32 bytes, got " + std::to_string(value.size()));
      std::copy(value.begin(), value.end(), m.signature.begin());
      st = St::Done;
    } else {
      return bad("macaroon V1: unknown packet key '" + key.substr(0, 32) + "'");
    }
  }
  if (st != St::Done) return bad(st == St::AfterId ? "macaroon V1: missing signature" : "macaroon V1: missing identifier");
  return m;
}

// ---------------- V2 JSON ----------------

// Field may be given as text ("i") or as base64 ("i64"). Both present is an error.
Result<std::optional<Bytes>> json_bytes(const json& obj, const char* key, const char* key64) {
  bool has = obj.contains(key), has64 = obj.contains(key64);
  if (has && has64) return bad(std::string("macaroon JSON: both '") + key + "' and '" + key64 + "' present");
  if (has) {
    if (!obj[key].is_string()) return bad(std::string("macaroon JSON: '") + key + "' is not a string");
    return std::optional<Bytes>(to_bytes(obj[key].get<std::string>()));
  }
  if (has64) {
    if (!obj[key64].is_string()) return bad(std::string("macaroon JSON: '") + key64 + "' is not a string");
    auto b = base64_decode(obj[key64].get<std::string>());
    if (!b) return bad(std::string("macaroon JSON: '") + key64 + "' is not valid base64");
    return std::optional<Bytes>(std::move(*b));
  }
  return std::optional<Bytes>();
}

Result<Macaroon> decode_v2j(const Bytes& raw) {
  if (json_nesting_exceeds(std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()), kMaxJsonDepth))
    return bad("macaroon JSON: nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  json j = json::parse(raw.begin(), raw.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("macaroon JSON: not a JSON object");
  if (!j.contains("v") || !j["v"].is_number_integer() || j["v"].get<int64_t>() != 2)
    return bad("macaroon JSON: version field 'v' must be 2");
  Macaroon m;
  m.format = Format::V2J;
  if (j.contains("l")) {
    if (!j["l"].is_string()) return bad("macaroon JSON: 'l' is not a string");
    m.location = j["l"].get<std::string>();
  }
  auto id = json_bytes(j, "i", "i64");
  if (!id) return id.error();
  if (!*id) return bad("macaroon JSON: missing identifier");
  m.identifier = std::move(**id);
  if (j.contains("c")) {
    if (!j["c"].is_array()) return bad("macaroon JSON: 'c' is not an array");
    for (const auto& cj : j["c"]) {
      if (!cj.is_object()) return bad("macaroon JSON: caveat is not an object");
      Caveat c;
      auto cid = json_bytes(cj, "i", "i64");
      if (!cid) return cid.error();
      if (!*cid) return bad("macaroon JSON: caveat has no identifier");
      c.identifier = std::move(**cid);
      auto vid = json_bytes(cj, "v", "v64");
      if (!vid) return vid.error();
      if (*vid && !(*vid)->empty()) c.vid = std::move(**vid);
      if (cj.contains("l")) {
        if (!cj["l"].is_string()) return bad("macaroon JSON: caveat 'l' is not a string");
        c.location = cj["l"].get<std::string>();
      }
      m.caveats.push_back(std::move(c));
    }
  }
  auto sig = json_bytes(j, "s", "s64");
  if (!sig) return sig.error();
  if (!*sig) return bad("macaroon JSON: missing signature");
  if ((*sig)->size() != 32) return bad("macaroon JSON: signature must be 32 bytes, got " + std::to_string((*sig)->size()));
  std::copy((*sig)->begin(), (*sig)->end(), m.signature.begin());
  return m;
}

void put_varint(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

void put_field(Bytes& out, uint64_t type, const uint8_t* data, size_t len) {
  put_varint(out, type);
  put_varint(out, len);
  out.insert(out.end(), data, data + len);
}
void put_field(Bytes& out, uint64_t type, const Bytes& b) { put_field(out, type, b.data(), b.size()); }
void put_field(Bytes& out, uint64_t type, const std::string& s) {
  put_field(out, type, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

Sig hmac(const uint8_t* key, size_t key_len, const uint8_t* data, size_t len) {
  return crypto::hmac_sha256(key, key_len, data, len);
}

std::string trimmed(std::string_view s) { return std::string(trim(s)); }

bool parse_i64(std::string_view s, int64_t& out) {
  if (s.empty() || s[0] == '-' || s[0] == '+') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

// ---------------- public ----------------

Result<Macaroon> decode_bytes(const Bytes& raw) {
  if (raw.empty()) return bad("macaroon is empty");
  if (raw[0] == 0x02) return decode_v2(raw);
  if (raw[0] == '{') return decode_v2j(raw);
  if (starts_with_hex4(raw)) return decode_v1(raw);
  return bad("unknown macaroon format (first byte 0x" + hex_encode(raw.data(), 1) + ")");
}

Result<Macaroon> decode(std::string_view base64_text) {
  auto t = trim(base64_text);
  if (t.empty()) return bad("macaroon is empty");
  auto raw = base64_decode(t);
  if (!raw) return bad("macaroon is not valid base64");
  return decode_bytes(*raw);
}

Bytes encode_v2(const Macaroon& m) {
  Bytes out;
  out.push_back(0x02);
  if (m.location) put_field(out, kFieldLocation, *m.location);
  put_field(out, kFieldIdentifier, m.identifier);
  out.push_back(kFieldEos);
  for (const auto& c : m.caveats) {
    if (c.location) put_field(out, kFieldLocation, *c.location);
    put_field(out, kFieldIdentifier, c.identifier);
    if (c.vid) put_field(out, kFieldVid, *c.vid);
    out.push_back(kFieldEos);
  }
  out.push_back(kFieldEos);
  put_field(out, kFieldSignature, m.signature.data(), m.signature.size());
  return out;
}

std::string encode_v2_base64(const Macaroon& m, bool url, bool pad) { return base64_encode(encode_v2(m), url, pad); }

Sig derive_key(const Bytes& root_key) {
  static constexpr char kGen[] = "macaroons-key-generator";
  return hmac(reinterpret_cast<const uint8_t*>(kGen), sizeof(kGen) - 1, root_key.data(), root_key.size());
}

std::vector<Sig> signature_chain(const Bytes& root_key, const Bytes& identifier, const std::vector<Caveat>& caveats) {
  std::vector<Sig> out;
  out.reserve(caveats.size() + 1);
  Sig k = derive_key(root_key);
  Sig sig = hmac(k.data(), k.size(), identifier.data(), identifier.size());
  out.push_back(sig);
  for (const auto& c : caveats) {
    if (c.vid) {
      Sig hv = hmac(sig.data(), sig.size(), c.vid->data(), c.vid->size());
      Sig hc = hmac(sig.data(), sig.size(), c.identifier.data(), c.identifier.size());
      uint8_t both[64];
      std::memcpy(both, hv.data(), 32);
      std::memcpy(both + 32, hc.data(), 32);
      sig = hmac(sig.data(), sig.size(), both, sizeof(both));
    } else {
      sig = hmac(sig.data(), sig.size(), c.identifier.data(), c.identifier.size());
    }
    out.push_back(sig);
  }
  return out;
}

Sig compute_signature(const Bytes& root_key, const Bytes& identifier, const std::vector<Caveat>& caveats) {
  return signature_chain(root_key, identifier, caveats).back();
}

bool signature_valid(const Macaroon& m, const Bytes& root_key) {
  Sig s = compute_signature(root_key, m.identifier, m.caveats);
  return crypto::ct_equal(s.data(), m.signature.data(), s.size());
}

Status verify_exact(const Macaroon& m, const Bytes& root_key, const std::vector<std::string>& exact_caveats) {
  if (!signature_valid(m, root_key)) return bad("macaroon signature does not match");
  for (const auto& c : m.caveats) {
    if (!c.first_party()) return bad("third-party caveats are not supported");
    std::string cid = to_string(c.identifier);
    if (std::find(exact_caveats.begin(), exact_caveats.end(), cid) == exact_caveats.end())
      return bad("caveat not satisfied: " + cid.substr(0, 200));
  }
  return ok_status();
}

Macaroon add_first_party_caveat(Macaroon m, std::string_view condition) {
  Caveat c;
  c.identifier = to_bytes(condition);
  m.signature = hmac(m.signature.data(), m.signature.size(), c.identifier.data(), c.identifier.size());
  m.caveats.push_back(std::move(c));
  return m;
}

Macaroon mint(const Bytes& root_key, const Bytes& identifier, std::optional<std::string> location,
              const std::vector<std::string>& first_party_caveats) {
  Macaroon m;
  m.location = std::move(location);
  m.identifier = identifier;
  for (const auto& s : first_party_caveats) {
    Caveat c;
    c.identifier = to_bytes(s);
    m.caveats.push_back(std::move(c));
  }
  m.signature = compute_signature(root_key, m.identifier, m.caveats);
  return m;
}

Result<L402Identifier> decode_l402_identifier(const Bytes& identifier) {
  if (identifier.size() < 2) return bad("L402 identifier is too short (" + std::to_string(identifier.size()) + " bytes)");
  L402Identifier id;
  id.version = static_cast<uint16_t>(identifier[0] << 8 | identifier[1]);
  if (id.version != 0) return bad("unsupported L402 identifier version " + std::to_string(id.version));
  if (identifier.size() != 66)
    return bad("L402 identifier must be 66 bytes, got " + std::to_string(identifier.size()));
  std::copy(identifier.begin() + 2, identifier.begin() + 34, id.payment_hash.begin());
  std::copy(identifier.begin() + 34, identifier.begin() + 66, id.token_id.begin());
  return id;
}

Bytes encode_l402_identifier(const L402Identifier& id) {
  Bytes out;
  out.reserve(66);
  out.push_back(static_cast<uint8_t>(id.version >> 8));
  out.push_back(static_cast<uint8_t>(id.version & 0xff));
  out.insert(out.end(), id.payment_hash.begin(), id.payment_hash.end());
  out.insert(out.end(), id.token_id.begin(), id.token_id.end());
  return out;
}

const char* layout_name(IdentifierLayout layout) {
  switch (layout) {
    case IdentifierLayout::Binary: return "binary";
    case IdentifierLayout::Hex: return "hex";
  }
  return "binary";
}

namespace {

Error unreadable(const std::string& why) {
  return make_error(kIdentifierUnreadable, "the macaroon identifier is not an L402 v0 identifier (66 bytes, or 132 "
                                           "hex characters): " + why);
}

// Version of a 66-byte v0-sized layout; the caller has checked the length.
Result<L402Binding> bind_v0(const Bytes& raw, IdentifierLayout layout) {
  auto id = decode_l402_identifier(raw);
  if (!id) {
    uint16_t version = static_cast<uint16_t>(raw[0] << 8 | raw[1]);
    return unreadable(std::string(layout == IdentifierLayout::Hex ? "132 hex characters" : "66 bytes") +
                      " with version " + std::to_string(version) + " (only version 0 is defined)");
  }
  L402Binding b;
  b.payment_hash_hex = hex_encode(id->payment_hash.data(), id->payment_hash.size());
  b.layout = layout;
  b.identifier = *id;
  return b;
}

}  // namespace

Result<L402Binding> l402_binding(const Bytes& identifier) {
  constexpr size_t kBinary = 66, kHex = 2 * kBinary;
  if (identifier.empty()) return unreadable("it is empty");
  if (identifier.size() == kBinary) return bind_v0(identifier, IdentifierLayout::Binary);
  if (identifier.size() == kHex) {
    // hex_decode accepts exactly [0-9a-fA-F]; whitespace, "0x" or any other byte makes it fail.
    auto raw = hex_decode(std::string_view(reinterpret_cast<const char*>(identifier.data()), identifier.size()));
    if (!raw) return unreadable("132 characters, but not all of them are hex digits");
    return bind_v0(*raw, IdentifierLayout::Hex);
  }
  return unreadable(std::to_string(identifier.size()) + " bytes");
}

Result<L402Binding> l402_binding(const Macaroon& m) { return l402_binding(m.identifier); }

std::vector<Condition> conditions(const Macaroon& m) {
  std::vector<Condition> out;
  for (const auto& c : m.caveats) {
    if (!c.first_party()) continue;
    std::string s = to_string(c.identifier);
    auto eq = s.find('=');
    if (eq == std::string::npos) continue;
    out.push_back({trimmed(std::string_view(s).substr(0, eq)), trimmed(std::string_view(s).substr(eq + 1))});
  }
  return out;
}

std::map<std::string, std::string> caveats_map(const Macaroon& m) {
  std::map<std::string, std::string> out;
  for (auto& c : conditions(m)) out[c.name] = c.value;
  return out;
}

std::optional<std::string> caveat_value(const Macaroon& m, std::string_view name) {
  std::optional<std::string> v;
  for (auto& c : conditions(m))
    if (c.name == name) v = c.value;
  return v;
}

namespace {
constexpr std::string_view kValidUntil = "_valid_until";

Result<std::optional<int64_t>> earliest_matching(const Macaroon& m, std::optional<std::string_view> service) {
  std::optional<int64_t> best;
  for (auto& c : conditions(m)) {
    if (c.name.size() <= kValidUntil.size()) continue;
    if (c.name.compare(c.name.size() - kValidUntil.size(), kValidUntil.size(), kValidUntil) != 0) continue;
    std::string_view svc = std::string_view(c.name).substr(0, c.name.size() - kValidUntil.size());
    if (service && svc != *service) continue;
    int64_t v = 0;
    if (!parse_i64(c.value, v)) return bad("caveat " + c.name + " is not a unix timestamp");
    if (!best || v < *best) best = v;
  }
  return best;
}
}  // namespace

Result<std::optional<int64_t>> valid_until(const Macaroon& m, std::string_view service) {
  return earliest_matching(m, service);
}

Result<std::optional<int64_t>> earliest_valid_until(const Macaroon& m) { return earliest_matching(m, std::nullopt); }

Result<std::vector<ServiceTier>> services(const Macaroon& m) {
  std::vector<ServiceTier> out;
  auto v = caveat_value(m, "services");
  if (!v) return out;
  std::string_view rest = *v;
  while (true) {
    auto comma = rest.find(',');
    std::string_view item = trim(rest.substr(0, comma));
    auto colon = item.rfind(':');
    if (item.empty() || colon == std::string_view::npos || colon == 0)
      return bad("services caveat entry '" + std::string(item.substr(0, 64)) + "' is not <name>:<tier>");
    std::string_view tier_s = item.substr(colon + 1);
    int64_t tier = 0;
    if (!parse_i64(tier_s, tier) || tier > UINT32_MAX)
      return bad("services caveat entry '" + std::string(item.substr(0, 64)) + "' has an invalid tier");
    out.push_back({std::string(item.substr(0, colon)), static_cast<uint32_t>(tier)});
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

std::optional<std::vector<std::string>> capabilities(const Macaroon& m, std::string_view service) {
  auto v = caveat_value(m, std::string(service) + "_capabilities");
  if (!v) return std::nullopt;
  std::vector<std::string> out;
  std::string_view rest = *v;
  while (true) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

}  // namespace sw::macaroon
