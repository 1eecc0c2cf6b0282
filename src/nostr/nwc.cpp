// NIP-47 connection URI parser. Secrets: every decoded parameter value is wiped before returning, and no
// error message contains any part of the URI (only the name of what was wrong).
#include <algorithm>

#include "nostr/nostr.h"

namespace sw::nostr {

namespace {

Error bad(const std::string& why) { return make_error("INVALID_NWC_URL", "invalid NWC connection URI: " + why); }

// application/x-www-form-urlencoded, strict (what URLSearchParams decodes, but a malformed escape is refused
// instead of passed through; the partial output is wiped — the URI carries the secret).
std::optional<std::string> form_decode(std::string_view s) { return form_urldecode(s, true); }

bool lower_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && ascii_iequals(s.substr(0, prefix.size()), prefix);
}

bool valid_relay(std::string_view r) {
  size_t skip;
  if (iequals_prefix(r, "wss://")) skip = 6;
  else if (iequals_prefix(r, "ws://")) skip = 5;
  else return false;
  for (char c : r)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) return false;
  std::string_view rest = r.substr(skip);
  size_t host_end = rest.find_first_of("/?#");
  std::string_view host = rest.substr(0, host_end);
  if (host.empty() || host.front() == ':' || host.find('@') != std::string_view::npos) return false;
  return true;
}

// Holds decoded values and wipes them on every exit path.
struct WipeList {
  std::vector<std::string> values;
  ~WipeList() {
    for (auto& v : values) crypto::wipe(v);
  }
};

}  // namespace

Result<NwcUri> parse_nwc_uri(std::string_view uri) {
  uri = trim(uri);
  if (uri.empty()) return bad("empty");
  if (uri.size() > kMaxNwcUriLength) return bad("too long");

  size_t colon = uri.find(':');
  if (colon == std::string_view::npos) return bad("missing scheme");
  std::string_view scheme = uri.substr(0, colon);
  bool scheme_ok = (scheme.size() == 19 && iequals_prefix(scheme, "nostr+walletconnect")) ||
                   (scheme.size() == 18 && iequals_prefix(scheme, "nostrwalletconnect"));
  if (!scheme_ok) return bad("scheme must be nostr+walletconnect://");
  std::string_view rest = uri.substr(colon + 1);
  if (rest.substr(0, 2) == "//") rest.remove_prefix(2);
  if (size_t hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);

  size_t q = rest.find('?');
  std::string_view host = rest.substr(0, q);
  if (!host.empty() && host.back() == '/') host.remove_suffix(1);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);

  NwcUri out;
  if (!lower_hex64(host)) return bad("wallet pubkey must be 64 lowercase hex characters");
  auto wpk = crypto::parse_xonly_pubkey_hex(host);
  if (!wpk) return bad("wallet pubkey is not a valid secp256k1 key");
  out.wallet_pubkey = *wpk;
  out.wallet_pubkey_hex = std::string(host);

  WipeList scratch;
  int secret_index = -1;
  int secrets_seen = 0;
  size_t pos = 0;
  while (pos <= query.size() && !query.empty()) {
    size_t amp = query.find('&', pos);
    std::string_view part = query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    pos = amp == std::string_view::npos ? query.size() + 1 : amp + 1;
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = form_decode(part.substr(0, eq));
    auto val = form_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!key || !val) {
      if (val) scratch.values.push_back(std::move(*val));
      return bad("malformed percent-encoding in a parameter");
    }
    scratch.values.push_back(std::move(*val));
    const std::string& v = scratch.values.back();
    if (*key == "relay") {
      if (!valid_relay(v))
        return bad("relay #" + std::to_string(out.relays.size() + 1) + " must be a ws:// or wss:// URL");
      if (std::find(out.relays.begin(), out.relays.end(), v) == out.relays.end()) out.relays.push_back(v);
    } else if (*key == "secret") {
      ++secrets_seen;
      secret_index = static_cast<int>(scratch.values.size()) - 1;
    } else if (*key == "lud16") {
      // Optional and cosmetic: keep the first usable one, ignore the rest.
      bool usable = !v.empty() && crypto::valid_utf8(v) &&
                    std::none_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
      if (usable && !out.lud16) out.lud16 = v;
    }
  }
  if (out.relays.empty()) return bad("at least one relay parameter is required");
  if (secrets_seen == 0) return bad("secret parameter is required");
  if (secrets_seen > 1) return bad("secret parameter must appear once");
  const std::string& secret_hex = scratch.values[static_cast<size_t>(secret_index)];
  if (!lower_hex64(secret_hex)) return bad("secret must be 64 lowercase hex characters");
  auto sk = crypto::SecretKey::from_hex(secret_hex);
  if (!sk) return bad("secret is not a valid secp256k1 secret key");
  out.secret = std::move(*sk);
  out.client_pubkey_hex = out.secret.public_key_hex();
  return out;
}

std::string redacted_nwc_uri(const NwcUri& c) {
  // Relay URLs and the lud16 percent-encoded the way the spec examples do (everything but unreserved characters).
  const auto enc = [](std::string_view v) { return percent_encode(v); };
  std::string s = "nostr+walletconnect://" + c.wallet_pubkey_hex;
  char sep = '?';
  for (const auto& r : c.relays) {
    s += sep;
    s += "relay=" + enc(r);
    sep = '&';
  }
  s += sep;
  s += "secret=REDACTED";
  if (c.lud16) s += "&lud16=" + enc(*c.lud16);
  return s;
}

}  // namespace sw::nostr
