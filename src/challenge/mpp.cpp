// MPP "Payment" scheme (draft-httpauth-payment-00 + draft-lightning-charge-00), receipts and challenge choice.
#include <algorithm>

#include "challenge/challenge.h"
#include "challenge/internal.h"
#include "crypto/crypto.h"

namespace sw::challenge {

namespace {

Error chal_err(std::string m) { return make_error("INVALID_CHALLENGE", std::move(m)); }
Error cred_err(std::string m) { return make_error("INVALID_CREDENTIAL", std::move(m)); }

constexpr size_t kMaxCredentialBytes = 64 * 1024;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

std::string dump_compact(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

// Optional string member; error when present but not a string.
Status opt_string(const json& obj, const char* key, std::optional<std::string>& out, const char* what) {
  if (!obj.contains(key)) return ok_status();
  if (!obj[key].is_string()) return chal_err(std::string("Payment request ") + what + " must be a string");
  out = obj[key].get<std::string>();
  return ok_status();
}

std::string_view as_text(const Bytes& b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

Result<uint64_t> parse_amount(std::string_view s) {
  if (!all_digits(s) || s[0] == '0' || s.size() > 19)
    return chal_err("Payment request amount must be a positive integer string");
  uint64_t v = 0;
  for (char c : s) v = v * 10 + static_cast<uint64_t>(c - '0');
  if (v > UINT64_MAX / 1000) return chal_err("Payment request amount must be a positive integer string");
  return v;
}

}  // namespace

std::optional<int64_t> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DD(T|t| )HH:MM:SS[.frac](Z|z|±HH:MM)
  auto num = [&](size_t pos, size_t len, int& out) {
    if (pos + len > s.size()) return false;
    out = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  int Y, M, D, h, m, sec;
  if (s.size() < 20 || !num(0, 4, Y) || s[4] != '-' || !num(5, 2, M) || s[7] != '-' || !num(8, 2, D) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !num(11, 2, h) || s[13] != ':' || !num(14, 2, m) ||
      s[16] != ':' || !num(17, 2, sec))
    return std::nullopt;
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (M < 1 || M > 12 || D < 1 || D > kDays[M - 1] || h > 23 || m > 59 || sec > 60) return std::nullopt;
  bool leap = (Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0;
  if (M == 2 && D == 29 && !leap) return std::nullopt;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return std::nullopt;
  }
  int offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!num(i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !num(i + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  int64_t days = days_from_civil(Y, static_cast<unsigned>(M), static_cast<unsigned>(D));
  return days * 86400 + h * 3600 + m * 60 + std::min(sec, 59) - offset;
}

Result<MppChallenge> parse_mpp(const AuthChallenge& c) {
  if (!c.scheme_is("Payment")) return chal_err("not a Payment challenge");
  // Refused, not first-wins: Aperture's challenge-list vector "repeated parameter takes the first occurrence"
  // keeps the first value; RFC 9110 §11.2 allows each name once per challenge, and refusing denies an on-path
  // element an appended override just as well, without paying a challenge whose meaning is in doubt.
  if (auto st = refuse_repeated_params(c, "Payment"); !st) return st.error();
  MppChallenge out;
  struct Req {
    const char* name;
    std::string* dst;
  } reqs[] = {{"id", &out.id}, {"realm", &out.realm}, {"method", &out.method}, {"intent", &out.intent},
              {"request", &out.request}};
  for (auto& r : reqs) {
    const std::string* v = c.param(r.name);
    // realm may legitimately be an empty string; the others must carry a value.
    if (!v || (v->empty() && std::string_view(r.name) != "realm"))
      return chal_err(std::string("Payment challenge is missing ") + r.name);
    *r.dst = *v;
  }
  if (const auto* v = c.param("expires")) {
    out.expires = *v;
    out.expires_unix = parse_rfc3339(*v);
    if (!out.expires_unix) return chal_err("Payment challenge expires is not an RFC 3339 timestamp");
  }
  if (const auto* v = c.param("digest")) out.digest = *v;
  if (const auto* v = c.param("description")) out.description = *v;
  if (const auto* v = c.param("opaque")) out.opaque = *v;
  auto raw = base64url_decode_strict(out.request);
  if (raw && !json_nesting_exceeds(as_text(*raw), kMaxJsonDepth)) {
    json j = json::parse(raw->begin(), raw->end(), nullptr, false);
    if (!j.is_discarded() && j.is_object()) out.request_json = std::move(j);
  }
  return out;
}

Result<MppChallenge> parse_mpp_legacy(const AuthChallenge& c) {
  if (c.scheme_is("Payment"))
    if (auto st = refuse_repeated_params(c, "Payment"); !st) return st.error();
  const std::string* method = c.param("method");
  const std::string* invoice = c.param("invoice");
  if (!c.scheme_is("Payment") || !method || ascii_lower(*method) != "lightning" || !invoice || invoice->empty() ||
      c.param("request"))
    return chal_err("not a legacy lightning Payment challenge");
  MppChallenge out;
  out.legacy = true;
  out.method = "lightning";
  out.intent = "charge";
  if (const auto* v = c.param("realm")) out.realm = *v;
  if (const auto* v = c.param("description")) out.description = *v;
  out.legacy_invoice = *invoice;
  if (const auto* v = c.param("amount")) out.legacy_amount = *v;
  if (const auto* v = c.param("currency")) out.legacy_currency = *v;
  return out;
}

Result<std::vector<MppChallenge>> parse_mpp_list(const std::vector<std::string>& header_values) {
  std::vector<MppChallenge> out;
  bool saw_payment = false;
  std::optional<Error> syntax, repeated;
  for (const auto& line : header_values) {
    auto parsed = parse_www_authenticate(std::string_view(line));
    if (!parsed) {
      if (!syntax) syntax = parsed.error();
      continue;
    }
    for (const auto& c : *parsed) {
      if (!c.scheme_is("Payment")) continue;
      saw_payment = true;
      auto m = parse_mpp(c);
      if (m) out.push_back(std::move(m.value()));
      else if (!repeated && c.repeated_param()) repeated = m.error();
    }
  }
  if (!out.empty()) return out;
  if (repeated) return *repeated;
  if (saw_payment) return chal_err("no complete Payment challenge");
  if (syntax) return *syntax;
  return make_error("NO_CHALLENGE", "no Payment challenge");
}

std::string serialize_mpp_challenge(const MppChallenge& c) {
  std::string out = "Payment id=" + quote(c.id) + ", realm=" + quote(c.realm) + ", method=" + quote(c.method) +
                    ", intent=" + quote(c.intent) + ", request=" + quote(c.request);
  if (c.expires) out += ", expires=" + quote(*c.expires);
  if (c.digest) out += ", digest=" + quote(*c.digest);
  if (c.description) out += ", description=" + quote(*c.description);
  if (c.opaque) out += ", opaque=" + quote(*c.opaque);
  return out;
}

std::string mpp_hmac_input(const MppChallenge& c) {
  return c.realm + "|" + c.method + "|" + c.intent + "|" + c.request + "|" + c.expires.value_or("") + "|" +
         c.digest.value_or("") + "|" + c.opaque.value_or("");
}

std::string mpp_challenge_id(const Bytes& secret, const MppChallenge& c) {
  std::string in = mpp_hmac_input(c);
  auto mac = crypto::hmac_sha256(secret.data(), secret.size(), reinterpret_cast<const uint8_t*>(in.data()), in.size());
  return base64_encode(mac.data(), mac.size(), true, false);
}

Result<LightningCharge> parse_lightning_charge(const MppChallenge& c) {
  if (c.method != "lightning" || c.intent != "charge") return chal_err("Payment challenge is not a lightning charge");
  LightningCharge out;
  if (c.legacy) {
    std::string cur = c.legacy_currency.value_or("sat");
    if (cur != "sat") return chal_err("Payment request currency must be \"sat\"");
    if (!c.legacy_amount) return chal_err("Payment request amount must be a positive integer string");
    auto amt = parse_amount(*c.legacy_amount);
    if (!amt) return amt.error();
    out.amount_sat = *amt;
    out.amount_msat = *amt * 1000;
    out.currency = cur;
    out.invoice = c.legacy_invoice.value_or("");
    if (out.invoice.empty()) return chal_err("Payment request has no methodDetails.invoice");
    out.description = c.description;
    return out;
  }
  if (!c.request_json || !c.request_json->is_object()) return chal_err("Payment request is not base64url JSON");
  const json& r = *c.request_json;
  if (!r.contains("amount") || !r["amount"].is_string())
    return chal_err("Payment request amount must be a positive integer string");
  auto amt = parse_amount(r["amount"].get_ref<const std::string&>());
  if (!amt) return amt.error();
  out.amount_sat = *amt;
  out.amount_msat = *amt * 1000;
  if (!r.contains("currency") || !r["currency"].is_string() || r["currency"].get<std::string>() != "sat")
    return chal_err("Payment request currency must be \"sat\"");
  out.currency = "sat";
  if (!r.contains("methodDetails") || !r["methodDetails"].is_object())
    return chal_err("Payment request has no methodDetails.invoice");
  const json& md = r["methodDetails"];
  if (!md.contains("invoice") || !md["invoice"].is_string() || md["invoice"].get<std::string>().empty())
    return chal_err("Payment request has no methodDetails.invoice");
  out.invoice = md["invoice"].get<std::string>();
  if (md.contains("paymentHash")) {
    if (!md["paymentHash"].is_string()) return chal_err("Payment request paymentHash is not 32 bytes of hex");
    auto ph = normalize_preimage_hex(md["paymentHash"].get<std::string>());
    if (!ph) return chal_err("Payment request paymentHash is not 32 bytes of hex");
    out.payment_hash = *ph;
  }
  if (md.contains("network")) {
    if (!md["network"].is_string()) return chal_err("Payment request network must be a string");
    std::string n = md["network"].get<std::string>();
    if (n != "mainnet" && n != "regtest" && n != "signet") return chal_err("Payment request network is not supported");
    out.network = n;
  }
  if (auto st = opt_string(r, "description", out.description, "description"); !st) return st.error();
  if (auto st = opt_string(r, "recipient", out.recipient, "recipient"); !st) return st.error();
  if (auto st = opt_string(r, "externalId", out.external_id, "externalId"); !st) return st.error();
  return out;
}

ojson mpp_challenge_echo(const MppChallenge& c) {
  ojson e = ojson::object();
  e["id"] = c.id;
  e["realm"] = c.realm;
  e["method"] = c.method;
  e["intent"] = c.intent;
  e["request"] = c.request;
  if (c.expires) e["expires"] = *c.expires;
  if (c.description) e["description"] = *c.description;
  if (c.opaque) e["opaque"] = *c.opaque;
  if (c.digest) e["digest"] = *c.digest;
  return e;
}

std::string encode_mpp_credential(const MppChallenge& c, const ojson& payload, const std::optional<std::string>& source) {
  ojson root = ojson::object();
  root["challenge"] = mpp_challenge_echo(c);
  if (source) root["source"] = *source;
  root["payload"] = payload;
  return "Payment " + base64url_encode(to_bytes(dump_compact(root)));
}

Result<std::string> build_mpp_simple_authorization(std::string_view preimage_hex) {
  auto pre = normalize_preimage_hex(preimage_hex);
  if (!pre) return make_error("INVALID_ARGUMENT", "preimage must be 32 bytes of hex");
  return "Payment method=\"lightning\", preimage=\"" + *pre + "\"";
}

Result<std::string> build_mpp_authorization(const MppChallenge& c, std::string_view preimage_hex,
                                            const std::optional<std::string>& source) {
  auto pre = normalize_preimage_hex(preimage_hex);
  if (!pre) return make_error("INVALID_ARGUMENT", "preimage must be 32 bytes of hex");
  if (c.legacy) return build_mpp_simple_authorization(*pre);
  ojson payload = ojson::object();
  payload["preimage"] = *pre;
  return encode_mpp_credential(c, payload, source);
}

Result<MppCredential> validate_credential(std::string_view authorization_value) {
  std::string_view v = trim(authorization_value);
  size_t sp = v.find_first_of(" \t");
  std::string_view scheme = v.substr(0, sp);
  if (!ascii_iequals(scheme, "Payment")) return cred_err("credential scheme is not Payment");
  std::string_view token = sp == std::string_view::npos ? std::string_view() : trim(v.substr(sp));
  if (token.empty()) return cred_err("credential token is empty");
  if (token.size() > (kMaxCredentialBytes / 3 + 1) * 4) return cred_err("credential is larger than 64 KiB");
  auto raw = base64url_decode_strict(token);
  if (!raw) return cred_err("credential token is not base64url");
  if (raw->size() > kMaxCredentialBytes) return cred_err("credential is larger than 64 KiB");
  if (json_nesting_exceeds(as_text(*raw), kMaxJsonDepth))
    return cred_err("credential nests JSON deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  ojson j = ojson::parse(raw->begin(), raw->end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return cred_err("credential is not a JSON object");
  if (!j.contains("challenge") || !j["challenge"].is_object()) return cred_err("credential has no challenge");
  const ojson& ch = j["challenge"];
  if (!ch.contains("id") || !ch["id"].is_string() || ch["id"].get<std::string>().empty())
    return cred_err("credential challenge has no id");
  MppCredential out;
  auto& mc = out.challenge;
  struct F {
    const char* name;
    std::string* dst;
    std::optional<std::string>* opt;
  } fields[] = {{"id", &mc.id, nullptr},          {"realm", &mc.realm, nullptr},
                {"method", &mc.method, nullptr},  {"intent", &mc.intent, nullptr},
                {"request", &mc.request, nullptr}, {"expires", nullptr, &mc.expires},
                {"digest", nullptr, &mc.digest},  {"description", nullptr, &mc.description},
                {"opaque", nullptr, &mc.opaque}};
  for (auto& f : fields) {
    if (!ch.contains(f.name)) continue;
    if (!ch[f.name].is_string()) return cred_err(std::string("credential challenge ") + f.name + " is not a string");
    if (f.dst) *f.dst = ch[f.name].get<std::string>();
    else *f.opt = ch[f.name].get<std::string>();
  }
  if (j.contains("source")) {
    if (!j["source"].is_string()) return cred_err("credential source is not a string");
    out.source = j["source"].get<std::string>();
  }
  if (!j.contains("payload") || !j["payload"].is_object()) return cred_err("credential has no payload");
  out.payload = j["payload"];
  return out;
}

Result<MppReceipt> parse_receipt(std::string_view header_value) {
  auto t = trim(header_value);
  auto raw = base64url_decode_strict(t);
  if (t.empty() || !raw) return make_error("INVALID_RECEIPT", "Payment-Receipt is not base64url");
  if (json_nesting_exceeds(as_text(*raw), kMaxJsonDepth))
    return make_error("INVALID_RECEIPT", "Payment-Receipt nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                                             " levels");
  json j = json::parse(raw->begin(), raw->end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error("INVALID_RECEIPT", "Payment-Receipt is not a JSON object");
  MppReceipt r;
  auto take = [&](const char* k, std::optional<std::string>& dst) {
    if (j.contains(k) && j[k].is_string()) dst = j[k].get<std::string>();
  };
  take("status", r.status);
  take("method", r.method);
  take("timestamp", r.timestamp);
  take("reference", r.reference);
  take("challengeId", r.challenge_id);
  r.raw = std::move(j);
  return r;
}

Result<Selection> select_challenge(const std::vector<std::string>& www_authenticate_values) {
  std::vector<AuthChallenge> all;
  std::optional<Error> syntax;
  for (const auto& line : www_authenticate_values) {
    if (trim(line).empty()) continue;
    auto parsed = parse_www_authenticate(std::string_view(line));
    if (!parsed) {
      if (!syntax) syntax = parsed.error();
      continue;
    }
    for (auto& c : *parsed) all.push_back(std::move(c));
  }
  Selection sel;
  std::optional<Error> first_err;
  auto note = [&](const Error& e) {
    if (!first_err) first_err = e;
  };
  std::optional<L402Challenge> lsat;
  std::optional<MppLightningCharge> legacy;
  std::vector<std::string> offered;
  for (const auto& c : all) {
    if (c.scheme_is("L402") || c.scheme_is("LSAT")) {
      auto l = parse_l402(c);
      if (!l) {
        note(l.error());
        continue;
      }
      if (l->scheme == "L402" && !sel.l402) sel.l402 = std::move(l.value());
      else if (l->scheme == "LSAT" && !lsat) lsat = std::move(l.value());
    } else if (c.scheme_is("Payment")) {
      auto m = parse_mpp(c);
      if (!m) {
        auto lg = parse_mpp_legacy(c);
        if (lg) {
          auto req = parse_lightning_charge(*lg);
          if (req && !legacy) legacy = MppLightningCharge{std::move(lg.value()), std::move(req.value())};
          else if (!req) note(req.error());
        } else {
          note(m.error());
        }
        continue;
      }
      if (m->method != "lightning" || m->intent != "charge") {
        offered.push_back("Payment/" + m->method + "/" + m->intent);
        continue;
      }
      auto req = parse_lightning_charge(*m);
      if (!req) {
        note(req.error());
        continue;
      }
      if (!sel.mpp_lightning_charge) sel.mpp_lightning_charge = MppLightningCharge{std::move(m.value()), std::move(req.value())};
    } else {
      offered.push_back(c.scheme);
    }
  }
  if (!sel.l402 && lsat) sel.l402 = std::move(lsat);
  if (!sel.mpp_lightning_charge && legacy) sel.mpp_lightning_charge = std::move(legacy);
  if (sel.l402 || sel.mpp_lightning_charge) return sel;
  if (first_err) return *first_err;
  if (all.empty() && syntax) return *syntax;
  if (all.empty()) return make_error("NO_CHALLENGE", "no WWW-Authenticate challenge");
  // Scheme names come from the server: bound what we echo (at most 8 names of 40 chars).
  std::string list;
  for (size_t i = 0; i < offered.size() && i < 8; ++i) list += (list.empty() ? "" : ", ") + offered[i].substr(0, 40);
  if (offered.size() > 8) list += ", ...";
  return make_error("UNSUPPORTED_SCHEME", "no supported payment challenge (offered: " + list + ")");
}

}  // namespace sw::challenge
