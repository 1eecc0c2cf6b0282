// 402 challenges (from paid APIs): the input is one or more WWW-Authenticate field values, one per line.
// Runs parse_www_authenticate (each line and all lines), every challenge through parse_l402 / parse_mpp /
// parse_mpp_legacy / parse_lightning_charge, then parse_mpp_list and select_challenge over all lines, and
// parse_rfc3339 on each line. Round trips: an auth-param value survives quote() → parse; a parsed MPP challenge
// survives serialize_mpp_challenge() → parse; the credential built for it validates and echoes it.
#include "challenge/challenge.h"
#include "crypto/crypto.h"
#include "fuzz.h"

using namespace sw;
namespace ch = sw::challenge;

namespace {

constexpr const char* kPreimage = "478da96e1b88fc94c9ded5ca8a1f6bca50751b40beb1e5f75ea0b5ba0934b8ab";

void quote_round_trip(const std::string& value) {
  auto again = ch::parse_www_authenticate("Fuzz p=" + ch::quote(value));
  SW_FUZZ_CHECK(again.ok());
  SW_FUZZ_CHECK(again->size() == 1 && (*again)[0].params.size() == 1);
  SW_FUZZ_CHECK((*again)[0].params[0].value == value);
}

void mpp_round_trip(const ch::MppChallenge& m) {
  const std::string text = ch::serialize_mpp_challenge(m);
  auto parsed = ch::parse_www_authenticate(text);
  SW_FUZZ_CHECK(parsed.ok() && parsed->size() == 1);
  auto again = ch::parse_mpp((*parsed)[0]);
  SW_FUZZ_CHECK(again.ok());
  SW_FUZZ_CHECK(again->id == m.id && again->realm == m.realm && again->method == m.method);
  SW_FUZZ_CHECK(again->intent == m.intent && again->request == m.request && again->expires == m.expires);
  SW_FUZZ_CHECK(again->digest == m.digest && again->description == m.description && again->opaque == m.opaque);
  SW_FUZZ_CHECK(ch::mpp_hmac_input(*again) == ch::mpp_hmac_input(m));
  (void)ch::mpp_challenge_id(to_bytes("mpp-test-vector-secret"), m);

  auto auth = ch::build_mpp_authorization(m, kPreimage);
  SW_FUZZ_CHECK(auth.ok());
  // JSON carries UTF-8 only: a field with other bytes (obs-text in a quoted-string) is echoed with U+FFFD.
  if (!crypto::valid_utf8(text)) return;
  auto cred = ch::validate_credential(*auth);
  if (!cred && cred.error().message == "credential is larger than 64 KiB") return;  // the server-side cap
  SW_FUZZ_CHECK(cred.ok());
  SW_FUZZ_CHECK(cred->challenge.id == m.id && cred->challenge.request == m.request);
  SW_FUZZ_CHECK(cred->challenge.opaque == m.opaque && cred->challenge.expires == m.expires);
  SW_FUZZ_CHECK(cred->payload.contains("preimage"));
}

void one_challenge(const ch::AuthChallenge& c) {
  (void)c.scheme_is("L402");
  (void)c.param("invoice");
  (void)c.repeated_param();
  if (!c.token68) {
    for (const auto& p : c.params) quote_round_trip(p.value);
  }
  if (auto l = ch::parse_l402(c)) {
    SW_FUZZ_CHECK(l->scheme == "L402" || l->scheme == "LSAT");
    SW_FUZZ_CHECK(!l->macaroon_b64.empty() && !l->invoice.empty());
    (void)ch::build_l402_authorization(l->scheme, l->macaroon_b64, kPreimage);
  }
  if (auto m = ch::parse_mpp(c)) {
    const ch::MppChallenge copy = *m;  // as the payment paths keep one (pay_l402_challenge, the paywall)
    SW_FUZZ_CHECK(copy.request_json.has_value() == m->request_json.has_value());
    mpp_round_trip(*m);
    (void)ch::parse_lightning_charge(*m);
  }
  if (auto m = ch::parse_mpp_legacy(c)) {
    SW_FUZZ_CHECK(m->legacy);
    (void)ch::parse_lightning_charge(*m);
    (void)ch::build_mpp_authorization(*m, kPreimage);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> lines;
  for (auto part : fuzz::split(fuzz::as_text(data, size), "\n")) lines.emplace_back(part);
  for (const auto& line : lines) {
    (void)ch::parse_rfc3339(line);
    auto parsed = ch::parse_www_authenticate(std::string_view(line));
    if (!parsed) {
      SW_FUZZ_CHECK(parsed.error().code == "INVALID_CHALLENGE");
      continue;
    }
    for (const auto& c : *parsed) one_challenge(c);
  }
  (void)ch::parse_www_authenticate(lines);
  (void)ch::parse_mpp_list(lines);
  auto sel = ch::select_challenge(lines);
  if (sel) {
    SW_FUZZ_CHECK(sel->l402 || sel->mpp_lightning_charge);
    if (sel->mpp_lightning_charge) SW_FUZZ_CHECK(sel->mpp_lightning_charge->request.currency == "sat");
  } else {
    const std::string& code = sel.error().code;
    SW_FUZZ_CHECK(code == "NO_CHALLENGE" || code == "INVALID_CHALLENGE" || code == "UNSUPPORTED_SCHEME");
  }
  return 0;
}
