// RFC 9110 §11 challenge parsing and the L402 challenge/credential forms.
// Hand-written: cpp-httplib has no WWW-Authenticate parser, and none of the allowed libraries handle
// comma-joined multi-challenge values.
#include <algorithm>

#include "challenge/challenge.h"
#include "challenge/internal.h"

namespace sw::challenge {

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t'; }


bool is_token68_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/';
}

bool is_ctl(char c) {
  auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}


Error malformed(const std::string& what, size_t at) {
  return make_error("INVALID_CHALLENGE",
                    "malformed WWW-Authenticate header: " + what + " at offset " + std::to_string(at));
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<std::vector<AuthChallenge>> run() {
    std::vector<AuthChallenge> out;
    for (;;) {
      while (i_ < s_.size() && (is_ws(s_[i_]) || s_[i_] == ',')) ++i_;  // empty list elements
      if (i_ >= s_.size()) break;
      if (!is_http_tchar(static_cast<unsigned char>(s_[i_]))) return malformed("expected auth-scheme", i_);
      AuthChallenge c;
      c.scheme = std::string(read_token());
      size_t j = i_;
      while (j < s_.size() && is_ws(s_[j])) ++j;
      if (j >= s_.size() || s_[j] == ',') {
        i_ = j;
        out.push_back(std::move(c));
        continue;
      }
      if (j == i_) return malformed("expected space after auth-scheme", i_);
      i_ = j;
      if (looks_like_token68()) {
        size_t start = i_;
        while (i_ < s_.size() && is_token68_char(s_[i_])) ++i_;
        while (i_ < s_.size() && s_[i_] == '=') ++i_;
        c.token68 = std::string(s_.substr(start, i_ - start));
        out.push_back(std::move(c));
        continue;
      }
      auto st = read_params(c);
      if (!st) return st.error();
      out.push_back(std::move(c));
    }
    return out;
  }

 private:
  std::string_view read_token() {
    size_t start = i_;
    while (i_ < s_.size() && is_http_tchar(static_cast<unsigned char>(s_[i_]))) ++i_;
    return s_.substr(start, i_ - start);
  }

  // token68 = 1*tchar68 *"=" followed by OWS and end-of-value or ','.
  bool looks_like_token68() const {
    size_t k = i_;
    while (k < s_.size() && is_token68_char(s_[k])) ++k;
    if (k == i_) return false;
    while (k < s_.size() && s_[k] == '=') ++k;
    while (k < s_.size() && is_ws(s_[k])) ++k;
    return k >= s_.size() || s_[k] == ',';
  }

  Status read_params(AuthChallenge& c) {
    for (;;) {
      if (i_ >= s_.size() || !is_http_tchar(static_cast<unsigned char>(s_[i_]))) return malformed("expected auth-param", i_);
      AuthParam p;
      std::string_view name = read_token();
      p.name = ascii_lower(name);
      while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
      if (i_ >= s_.size() || s_[i_] != '=') return malformed("expected '=' after parameter name", i_);
      ++i_;
      while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
      if (i_ < s_.size() && s_[i_] == '"') {
        auto st = read_quoted(p.value);
        if (!st) return st;
        p.quoted = true;
      } else {
        auto st = read_unquoted(p.name, p.value);
        if (!st) return st;
      }
      c.params.push_back(std::move(p));
      while (i_ < s_.size() && is_ws(s_[i_])) ++i_;
      if (i_ >= s_.size()) return ok_status();
      if (s_[i_] != ',') return malformed("unexpected character after auth-param value", i_);
      // Another param of this challenge, or the next challenge? Look past the comma(s).
      size_t k = i_;
      while (k < s_.size() && (s_[k] == ',' || is_ws(s_[k]))) ++k;
      if (k >= s_.size()) {
        i_ = k;
        return ok_status();
      }
      size_t m = k;
      while (m < s_.size() && is_http_tchar(static_cast<unsigned char>(s_[m]))) ++m;
      size_t after = m;
      while (after < s_.size() && is_ws(s_[after])) ++after;
      i_ = k;
      if (m == k || after >= s_.size() || s_[after] != '=') return ok_status();  // next challenge (or junk)
    }
  }

  // An unquoted auth-param value. RFC 9110 §11.2: auth-param = token BWS "=" BWS ( token / quoted-string ).
  // Accepted: a token (1*tchar) — e.g. `invoice=lnbc…` (bech32 is all tchar) or a base64url / JWT macaroon.
  // Tolerated beyond the RFC, one form only: a value in the token68 shape (RFC 9110 §11.2: the base64 / base64url
  // alphabet, `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`) — an unquoted standard-base64
  // macaroon with '/' and '=' padding, as servers that interpolate Buffer.toString('base64') into the header send.
  // It is unambiguous because it must run up to OWS then ',' or the end of the field: none of its characters can
  // end a value or start a parameter, and '=' may only be trailing padding, so it cannot be read as `name=value`
  // and there is no second way to split it (a strict RFC parser rejects it; none reads a different value).
  // Refused (INVALID_CHALLENGE): any other character outside tchar — ';', ':', '@', '(', '\\', '{', non-ASCII, a
  // '=' inside the value (`a=b`), '/' mixed with tchar that base64 never has (`a!b/c`), or anything other than
  // OWS then ',' / end after the value. Those are not one well-defined value, so nothing is paid against them.
  Status read_unquoted(const std::string& name, std::string& out) {
    size_t start = i_;
    auto in_run = [](char ch) {
      return is_http_tchar(static_cast<unsigned char>(ch)) || ch == '/' || ch == '=';
    };
    while (i_ < s_.size() && in_run(s_[i_])) ++i_;
    std::string_view v = s_.substr(start, i_ - start);
    if (v.empty()) {
      if (i_ < s_.size() && !is_ws(s_[i_]) && s_[i_] != ',')
        return malformed("unquoted value of parameter '" + name.substr(0, 40) +
                             "' is not a token (RFC 9110 requires a quoted-string)", i_);
      return malformed("empty auth-param value", i_);
    }
    bool token = std::all_of(v.begin(), v.end(), [](char ch) { return is_http_tchar(static_cast<unsigned char>(ch)); });
    if (!token) {
      size_t k = 0;
      while (k < v.size() && is_token68_char(v[k])) ++k;
      size_t body = k;
      while (k < v.size() && v[k] == '=') ++k;
      if (body == 0 || k != v.size())
        return malformed("unquoted value of parameter '" + name.substr(0, 40) +
                             "' is neither a token nor base64 (RFC 9110 requires a quoted-string)", start);
    }
    size_t after = i_;
    while (after < s_.size() && is_ws(s_[after])) ++after;
    if (after < s_.size() && s_[after] != ',')
      return malformed("unquoted value of parameter '" + name.substr(0, 40) +
                           "' is not a token (RFC 9110 requires a quoted-string)", i_);
    out = std::string(v);
    return ok_status();
  }

  Status read_quoted(std::string& out) {
    size_t open = i_;
    ++i_;
    for (;;) {
      if (i_ >= s_.size()) return malformed("unterminated quoted-string", open);
      char ch = s_[i_];
      if (ch == '"') {
        ++i_;
        break;
      }
      if (ch == '\\') {
        if (i_ + 1 >= s_.size()) return malformed("unterminated quoted-string", open);
        char e = s_[i_ + 1];
        if (is_ctl(e)) return malformed("control character in quoted-pair", i_ + 1);
        out += e;
        i_ += 2;
        continue;
      }
      if (is_ctl(ch)) return malformed("control character in quoted-string", i_);
      out += ch;
      ++i_;
    }
    if (i_ < s_.size() && !is_ws(s_[i_]) && s_[i_] != ',')
      return malformed("unexpected character after quoted-string", i_);
    return ok_status();
  }

  std::string_view s_;
  size_t i_ = 0;
};

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

// Declared in internal.h.
std::optional<std::string> normalize_preimage_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  for (char c : hex)
    if (!is_hex(c)) return std::nullopt;
  return ascii_lower(hex);
}


bool AuthChallenge::scheme_is(std::string_view s) const { return ascii_iequals(scheme, s); }

const std::string* AuthChallenge::param(std::string_view name) const {
  for (const auto& p : params)
    if (ascii_iequals(p.name, name)) return &p.value;
  return nullptr;
}

const std::string* AuthChallenge::repeated_param() const {
  for (size_t i = 0; i < params.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (ascii_iequals(params[j].name, params[i].name)) return &params[i].name;
  return nullptr;
}

// Declared in internal.h.
Status refuse_repeated_params(const AuthChallenge& c, std::string_view scheme) {
  const std::string* dup = c.repeated_param();
  if (!dup) return ok_status();
  return make_error("INVALID_CHALLENGE",
                    std::string(scheme) + " challenge repeats the parameter '" + ascii_lower(*dup).substr(0, 40) +
                        "' (RFC 9110 allows each parameter once per challenge); refused rather than guess which "
                        "value the server means");
}

Result<std::vector<AuthChallenge>> parse_www_authenticate(std::string_view header_value) {
  return Parser(header_value).run();
}

Result<std::vector<AuthChallenge>> parse_www_authenticate(const std::vector<std::string>& header_values) {
  std::vector<AuthChallenge> all;
  for (const auto& v : header_values) {
    auto r = parse_www_authenticate(std::string_view(v));
    if (!r) return r.error();
    for (auto& c : *r) all.push_back(std::move(c));
  }
  return all;
}

std::string quote(std::string_view value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

Result<L402Challenge> parse_l402(const AuthChallenge& c) {
  auto err = [](const char* m) { return make_error("INVALID_CHALLENGE", m); };
  L402Challenge out;
  if (c.scheme_is("L402")) out.scheme = "L402";
  else if (c.scheme_is("LSAT")) out.scheme = "LSAT";
  else return err("not an L402 challenge");
  // Ambiguity is refused, never resolved by picking one: a repeated parameter (same name in any case), or the
  // macaroon given twice under its two names (`token=`, 2026 spec; `macaroon=`, Aperture) with different values.
  if (auto st = refuse_repeated_params(c, out.scheme); !st) return st.error();
  const std::string* token = c.param("token");
  const std::string* mac = c.param("macaroon");
  if (token && mac && !token->empty() && !mac->empty() && *token != *mac)
    return err("L402 challenge gives token= and macaroon= with different values; refused rather than guess which "
               "macaroon the server means");
  if (token && !token->empty()) out.macaroon_b64 = *token;
  else if (mac && !mac->empty()) out.macaroon_b64 = *mac;
  else if (token || mac) return err("L402 challenge has an empty macaroon");
  else return err("L402 challenge has no macaroon");
  const std::string* inv = c.param("invoice");
  if (!inv || inv->empty()) return err("L402 challenge has no invoice");
  out.invoice = *inv;
  if (const std::string* v = c.param("version")) out.version = *v;
  return out;
}

Result<std::string> build_l402_authorization(std::string_view scheme, std::string_view macaroon_b64,
                                             std::string_view preimage_hex) {
  auto pre = normalize_preimage_hex(preimage_hex);
  if (!pre) return make_error("INVALID_ARGUMENT", "preimage must be 32 bytes of hex");
  if (macaroon_b64.empty() ||
      std::any_of(macaroon_b64.begin(), macaroon_b64.end(), [](char c) { return c == ':' || is_ws(c) || is_ctl(c); }))
    return make_error("INVALID_ARGUMENT", "macaroon must be non-empty base64 without ':' or whitespace");
  std::string sch = ascii_iequals(scheme, "LSAT") ? "LSAT" : "L402";
  return sch + " " + std::string(macaroon_b64) + ":" + *pre;
}

}  // namespace sw::challenge
