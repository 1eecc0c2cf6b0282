// Strict base64url and RFC 8785 JSON Canonicalization Scheme.
// Hand-written: nlohmann::json's dump() sorts keys by UTF-8 bytes (RFC 8785 wants UTF-16 code units) and does
// not render numbers the ECMAScript way; common::base64_decode accepts both alphabets, MPP wants URL only.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "challenge/challenge.h"

namespace sw::challenge {

namespace {

int b64url_val(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

Error json_err(std::string m) { return make_error("INVALID_JSON", std::move(m)); }

// UTF-8 → UTF-16 code units (input is valid UTF-8: it came out of nlohmann's validating parser).
std::u16string utf16(const std::string& s) {
  std::u16string out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1f; len = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0f; len = 3; }
    else { cp = c & 0x07; len = 4; }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += len;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out += static_cast<char16_t>(0xd800 + (cp >> 10));
      out += static_cast<char16_t>(0xdc00 + (cp & 0x3ff));
    } else {
      out += static_cast<char16_t>(cp);
    }
  }
  return out;
}

void put_string(std::string& out, const std::string& s) {
  static const char* kHex = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// ECMAScript Number::toString for finite doubles (RFC 8785 §3.2.2.3), from the shortest round-trip digits.
bool put_number(std::string& out, double d) {
  if (!std::isfinite(d)) return false;
  if (d == 0) {  // both zeroes
    out += '0';
    return true;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  if (res.ec != std::errc()) return false;
  std::string_view sci(buf, static_cast<size_t>(res.ptr - buf));  // e.g. "-1.2345e+21"
  bool neg = sci.front() == '-';
  if (neg) sci.remove_prefix(1);
  auto epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos))
    if (c != '.') digits += c;
  int exp10 = 0;
  std::string_view es = sci.substr(epos + 1);
  if (!es.empty() && es.front() == '+') es.remove_prefix(1);
  std::from_chars(es.data(), es.data() + es.size(), exp10);
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  const int k = static_cast<int>(digits.size());
  const int n = exp10 + 1;  // value = 0.digits × 10^n
  if (neg) out += '-';
  if (k <= n && n <= 21) {
    out += digits;
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out += digits.substr(0, static_cast<size_t>(n));
    out += '.';
    out += digits.substr(static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out += "0.";
    out.append(static_cast<size_t>(-n), '0');
    out += digits;
  } else {
    out += digits[0];
    if (k > 1) {
      out += '.';
      out += digits.substr(1);
    }
    out += 'e';
    out += (n - 1 >= 0) ? '+' : '-';
    out += std::to_string(std::abs(n - 1));
  }
  return true;
}

bool put_value(std::string& out, const json& v, int depth) {
  if (depth > 512) return false;
  switch (v.type()) {
    case json::value_t::null: out += "null"; return true;
    case json::value_t::boolean: out += v.get<bool>() ? "true" : "false"; return true;
    case json::value_t::number_integer: return put_number(out, static_cast<double>(v.get<int64_t>()));
    case json::value_t::number_unsigned: return put_number(out, static_cast<double>(v.get<uint64_t>()));
    case json::value_t::number_float: return put_number(out, v.get<double>());
    case json::value_t::string: put_string(out, v.get_ref<const std::string&>()); return true;
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ',';
        first = false;
        if (!put_value(out, e, depth + 1)) return false;
      }
      out += ']';
      return true;
    }
    case json::value_t::object: {
      std::vector<std::pair<std::u16string, const std::string*>> keys;
      for (auto it = v.begin(); it != v.end(); ++it) keys.emplace_back(utf16(it.key()), &it.key());
      std::sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      out += '{';
      bool first = true;
      for (const auto& [u16, key] : keys) {
        if (!first) out += ',';
        first = false;
        put_string(out, *key);
        out += ':';
        if (!put_value(out, v.at(*key), depth + 1)) return false;
      }
      out += '}';
      return true;
    }
    default:
      return false;  // binary / discarded
  }
}

}  // namespace

std::optional<Bytes> base64url_decode_strict(std::string_view text) {
  size_t n = text.size();
  size_t pads = 0;
  while (n > 0 && text[n - 1] == '=') {
    --n;
    ++pads;
  }
  if (pads > 2) return std::nullopt;
  if (pads > 0 && text.size() % 4 != 0) return std::nullopt;
  if (n % 4 == 1) return std::nullopt;
  if (pads > 0 && (n % 4) + pads != 4) return std::nullopt;
  Bytes out;
  out.reserve(n * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; ++i) {
    int v = b64url_val(text[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6 | static_cast<uint32_t>(v)) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string base64url_encode(const Bytes& b) { return base64_encode(b, true, false); }

Result<std::string> jcs_serialize(const json& value) {
  std::string out;
  if (!put_value(out, value, 0)) return json_err("value cannot be canonicalized (non-finite number or binary)");
  return out;
}

Result<std::string> jcs_canonicalize(std::string_view json_text) {
  json j = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (j.is_discarded()) return json_err("not valid JSON");
  return jcs_serialize(j);
}

}  // namespace sw::challenge
