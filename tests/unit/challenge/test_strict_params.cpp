// RFC 9110-strict challenge parsing where money depends on it: a parameter repeated within one L402/LSAT/Payment
// challenge is refused (whatever the case of the names, whatever the values); the same parameter in different
// challenges is normal; unquoted values must be a token or, tolerated, base64 in the token68 shape; and the
// lsat-js challenge from tests/vectors/l402-identifiers.json parses and binds.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "challenge/challenge.h"
#include "macaroon/macaroon.h"

using namespace sw;
using namespace sw::challenge;

namespace {

json load_json(const char* name) {
  std::ifstream f(std::string(SW_VECTORS_DIR) + "/" + name);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

const std::string kInv = "lnbc100n1pj48ugqpp546j9g0d3jz3w4my09st9k7l9c8gz2dwfs08gw7fmsm05";

// Refused with INVALID_CHALLENGE naming the scheme and the (lower-cased) parameter; returns the message.
std::string refused_repeat(const std::string& header, const std::string& scheme, const std::string& param) {
  INFO(header);
  auto r = select_challenge({header});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "INVALID_CHALLENGE");
  CHECK(has(r.error().message, scheme + " challenge repeats the parameter '" + param + "'"));
  CHECK(has(r.error().message, "RFC 9110"));
  return r.error().message;
}

std::string unquoted_error(const std::string& header) {
  INFO(header);
  auto r = parse_www_authenticate(header);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == "INVALID_CHALLENGE");
  CHECK(has(r.error().message, "malformed WWW-Authenticate header: unquoted value of parameter"));
  CHECK(select_challenge({header}).error().code == "INVALID_CHALLENGE");
  return r.error().message;
}

}  // namespace

TEST_CASE("repeated_param(): first repeated name, case-insensitive, values ignored") {
  auto r = parse_www_authenticate("L402 a=1, b=2, c=3");
  REQUIRE(r.ok());
  CHECK((*r)[0].repeated_param() == nullptr);
  auto d = parse_www_authenticate("L402 a=1, b=2, B=2, a=9");
  REQUIRE(d.ok());
  REQUIRE((*d)[0].repeated_param());
  CHECK(*(*d)[0].repeated_param() == "b");  // the parser lower-cases names; b repeats before a does
  AuthChallenge hand;                       // built by hand: names as given, still compared case-insensitively
  hand.scheme = "L402";
  hand.params = {{"Invoice", "x", true}, {"macaroon", "m", true}, {"INVOICE", "y", true}};
  REQUIRE(hand.repeated_param());
  CHECK(*hand.repeated_param() == "INVOICE");
  CHECK(parse_l402(hand).error().message.find("repeats the parameter 'invoice'") != std::string::npos);
}

TEST_CASE("L402: a parameter repeated within one challenge is refused") {
  SECTION("two macaroons with different values") {
    auto m = refused_repeat("L402 macaroon=\"AgEEbHNhdA==\", macaroon=\"AgEEZXZpbA==\", invoice=\"" + kInv + "\"",
                            "L402", "macaroon");
    CHECK(has(m, "refused rather than guess"));
    CHECK_FALSE(has(m, "AgEE"));  // values are not echoed
  }
  SECTION("two invoices") {
    refused_repeat("L402 macaroon=\"m\", invoice=\"" + kInv + "\", invoice=\"lnbc1other\"", "L402", "invoice");
  }
  SECTION("the same value twice is still a repeat (RFC 9110: each name once per challenge)") {
    refused_repeat("L402 macaroon=\"m\", invoice=\"" + kInv + "\", macaroon=\"m\"", "L402", "macaroon");
    refused_repeat("L402 macaroon=\"m\", invoice=" + kInv + ", invoice=\"" + kInv + "\"", "L402", "invoice");
  }
  SECTION("names differing only in case") {
    refused_repeat("L402 macaroon=\"m\", MACAROON=\"n\", invoice=\"i\"", "L402", "macaroon");
    refused_repeat("L402 Invoice=\"a\", macaroon=\"m\", iNvOiCe=\"b\"", "L402", "invoice");
  }
  SECTION("LSAT, token=, version= and unknown parameters too") {
    refused_repeat("LSAT macaroon=\"m\", invoice=\"i\", invoice=\"j\"", "LSAT", "invoice");
    refused_repeat("L402 version=\"0\", token=\"t\", token=\"u\", invoice=\"i\"", "L402", "token");
    refused_repeat("L402 version=\"0\", version=\"1\", token=\"t\", invoice=\"i\"", "L402", "version");
    refused_repeat("L402 foo=1, macaroon=\"m\", invoice=\"i\", foo=2", "L402", "foo");
  }
  SECTION("the repeat is refused on its own line even when another header line repeats nothing") {
    auto r = select_challenge({"L402 macaroon=\"m\", macaroon=\"n\", invoice=\"i\"", "Basic realm=\"x\""});
    REQUIRE_FALSE(r.ok());
    CHECK(has(r.error().message, "repeats the parameter 'macaroon'"));
  }
}

TEST_CASE("L402: the same parameter in different challenges is normal") {
  const std::string a = "LSAT macaroon=\"m1\", invoice=\"i1\"";
  const std::string b = "L402 macaroon=\"m1\", invoice=\"i1\"";
  SECTION("Aperture's pair, as two header lines or comma-joined into one") {
    for (const auto& hdrs : {std::vector<std::string>{a, b}, std::vector<std::string>{a + ", " + b}}) {
      auto r = select_challenge(hdrs);
      REQUIRE(r.ok());
      CHECK(r->l402->scheme == "L402");
      CHECK(r->l402->macaroon_b64 == "m1");
    }
  }
  SECTION("two L402 offers with different values: each unambiguous, the first is taken") {
    auto r = select_challenge({"L402 macaroon=\"m1\", invoice=\"i1\", L402 macaroon=\"m2\", invoice=\"i2\""});
    REQUIRE(r.ok());
    CHECK(r->l402->macaroon_b64 == "m1");
    CHECK(r->l402->invoice == "i1");
    auto lines = select_challenge({"L402 macaroon=\"m2\", invoice=\"i2\"", "L402 macaroon=\"m1\", invoice=\"i1\""});
    REQUIRE(lines.ok());
    CHECK(lines->l402->macaroon_b64 == "m2");
  }
  SECTION("a refused L402 next to a clean one: the clean one is used") {
    auto r = select_challenge({"L402 macaroon=\"m\", macaroon=\"n\", invoice=\"i\"", "L402 macaroon=\"k\", invoice=\"j\""});
    REQUIRE(r.ok());
    CHECK(r->l402->macaroon_b64 == "k");
    CHECK(r->l402->invoice == "j");
  }
  SECTION("a refused L402 next to a valid MPP charge: the MPP charge is selected, the L402 is not") {
    auto g = load_json("mpp-generated.json");
    auto r = select_challenge({"L402 macaroon=\"m\", invoice=\"i\", invoice=\"j\"", g["www_authenticate"].get<std::string>()});
    REQUIRE(r.ok());
    CHECK_FALSE(r->l402);
    REQUIRE(r->mpp_lightning_charge);
    CHECK(r->mpp_lightning_charge->request.invoice == g["invoice"].get<std::string>());
  }
}

TEST_CASE("MPP Payment: a parameter repeated within one challenge is refused") {
  auto g = load_json("mpp-generated.json");
  const std::string good = g["www_authenticate"].get<std::string>();
  auto one = parse_www_authenticate(good);
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  const std::string request = *(*one)[0].param("request");
  SECTION("request twice (different values, same value, other case)") {
    refused_repeat(good + ", request=\"eyJ9\"", "Payment", "request");
    refused_repeat(good + ", request=\"" + request + "\"", "Payment", "request");
    refused_repeat(good + ", REQUEST=\"" + request + "\"", "Payment", "request");
  }
  SECTION("id, method, intent, realm, expires twice") {
    refused_repeat(good + ", id=\"other\"", "Payment", "id");
    refused_repeat(good + ", Method=\"lightning\"", "Payment", "method");
    refused_repeat(good + ", intent=\"session\"", "Payment", "intent");
    refused_repeat(good + ", realm=\"x\"", "Payment", "realm");
    refused_repeat(good + ", expires=\"2030-01-01T00:00:00Z\", expires=\"2031-01-01T00:00:00Z\"", "Payment", "expires");
  }
  SECTION("parse_mpp and parse_mpp_list") {
    auto dup = parse_www_authenticate(good + ", request=\"eyJ9\"");
    REQUIRE(dup.ok());
    auto m = parse_mpp((*dup)[0]);
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == "INVALID_CHALLENGE");
    CHECK(has(m.error().message, "Payment challenge repeats the parameter 'request'"));
    // Alone: the refusal is the answer (not a vague "no complete Payment challenge").
    auto alone = parse_mpp_list({good + ", request=\"eyJ9\""});
    REQUIRE_FALSE(alone.ok());
    CHECK(has(alone.error().message, "repeats the parameter 'request'"));
    // Next to a clean offer (another line, or comma-joined): skipped, the clean one returned.
    for (const auto& hdrs : {std::vector<std::string>{good + ", request=\"eyJ9\"", good},
                             std::vector<std::string>{good + ", request=\"eyJ9\", " + good}}) {
      auto mixed = parse_mpp_list(hdrs);
      REQUIRE(mixed.ok());
      REQUIRE(mixed->size() == 1);
      CHECK((*mixed)[0].request == request);
    }
    // The same challenge twice (two offers, each clean) is fine.
    auto twice = parse_mpp_list({good + ", " + good});
    REQUIRE(twice.ok());
    CHECK(twice->size() == 2);
  }
  SECTION("the legacy simplified form: invoice twice") {
    auto ns = g["non_standard_variant_seen_in_the_wild"]["challenge"].get<std::string>();
    REQUIRE(select_challenge({ns}).ok());
    auto r = select_challenge({ns + ", invoice=\"lnbc1other\""});
    REQUIRE_FALSE(r.ok());
    CHECK(has(r.error().message, "Payment challenge repeats the parameter 'invoice'"));
    auto c = parse_www_authenticate(ns + ", INVOICE=\"lnbc1other\"");
    REQUIRE(c.ok());
    CHECK(has(parse_mpp_legacy((*c)[0]).error().message, "repeats the parameter 'invoice'"));
  }
}

TEST_CASE("unquoted values: a token, or base64 in the token68 shape, nothing else") {
  SECTION("tolerated: the unquoted invoice (a token) and base64 / base64url macaroons") {
    auto r = select_challenge({"L402 macaroon=AgEEbHNh/dA+x==, invoice=" + kInv});
    REQUIRE(r.ok());
    CHECK(r->l402->macaroon_b64 == "AgEEbHNh/dA+x==");
    CHECK(r->l402->invoice == kInv);
    auto url = select_challenge({"LSAT macaroon=AgEE-bHNh_dA, invoice=" + kInv + "  "});
    REQUIRE(url.ok());
    CHECK(url->l402->macaroon_b64 == "AgEE-bHNh_dA");
    auto jwt = select_challenge({"LSAT macaroon=eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln,invoice=" + kInv});
    REQUIRE(jwt.ok());
    CHECK(jwt->l402->macaroon_b64 == "eyJhbGciOiJIUzI1NiJ9.eyJ4IjoxfQ.c2ln");
    // At the end of the field, and before OWS + comma.
    auto end = parse_www_authenticate("L402 invoice=" + kInv + ", macaroon=Ag/E=");
    REQUIRE(end.ok());
    CHECK(*(*end)[0].param("macaroon") == "Ag/E=");
    auto ows = parse_www_authenticate("L402 macaroon=Ag/E== \t, invoice=i");
    REQUIRE(ows.ok());
    CHECK(*(*ows)[0].param("macaroon") == "Ag/E==");
    CHECK(*(*ows)[0].param("invoice") == "i");
  }
  SECTION("refused: characters outside tchar that base64 never has") {
    for (const char* v : {"ab;cd", "ab:cd", "ab@cd", "ab(cd)", "ab\\cd", "ab{cd}", "ab[cd]", "ab?cd", "ab<cd>"}) {
      auto m = unquoted_error(std::string("L402 macaroon=") + v + ", invoice=i");
      CHECK(has(m, "'macaroon'"));
    }
    auto nonascii = unquoted_error("L402 macaroon=\"m\", invoice=lnbc1\xc3\xa9x");
    CHECK(has(nonascii, "'invoice'"));
  }
  SECTION("refused: '=' anywhere but trailing padding, or '/' next to non-base64 tchar") {
    CHECK(has(unquoted_error("L402 macaroon=ab=cd, invoice=i"), "neither a token nor base64"));
    CHECK(has(unquoted_error("L402 macaroon==abc, invoice=i"), "neither a token nor base64"));
    CHECK(has(unquoted_error("L402 macaroon=a!b/c, invoice=i"), "neither a token nor base64"));
    CHECK(has(unquoted_error("L402 macaroon=ab==cd==, invoice=i"), "neither a token nor base64"));
    CHECK(has(unquoted_error("L402 invoice=lnbc1=x, macaroon=\"m\""), "'invoice'"));
  }
  SECTION("refused: junk after an unquoted value") {
    unquoted_error("L402 macaroon=Ag/E= x, invoice=i");
    unquoted_error("L402 macaroon=abc\"def\", invoice=i");
    unquoted_error("L402 invoice=" + kInv + ";v=1, macaroon=\"m\"");
  }
  SECTION("quoted values may hold anything a quoted-string allows") {
    auto r = select_challenge({"L402 macaroon=\"a;b:c=d@e/f\", invoice=\"x y\""});
    REQUIRE(r.ok());
    CHECK(r->l402->macaroon_b64 == "a;b:c=d@e/f");
    CHECK(r->l402->invoice == "x y");
  }
  SECTION("the scheme-level token68 form is unchanged") {
    auto r = parse_www_authenticate("Negotiate ab/c+d==, L402 macaroon=\"m\", invoice=\"i\"");
    REQUIRE(r.ok());
    CHECK((*r)[0].token68.value() == "ab/c+d==");
  }
}

TEST_CASE("lsat-js's own challenge (tests/vectors/l402-identifiers.json) parses and binds to its invoice") {
  auto v = load_json("l402-identifiers.json");
  const json* withc = nullptr;
  for (const auto& c : v["cases"])
    if (c.contains("challenge")) withc = &c;
  REQUIRE(withc);
  auto r = select_challenge({(*withc)["challenge"].get<std::string>()});
  REQUIRE(r.ok());
  REQUIRE(r->l402);
  CHECK(r->l402->scheme == "LSAT");
  CHECK(r->l402->invoice == (*withc)["invoice"].get<std::string>());
  CHECK(r->l402->macaroon_b64 == (*withc)["macaroon_base64"].get<std::string>());
  auto m = macaroon::decode(r->l402->macaroon_b64);
  REQUIRE(m.ok());
  auto b = macaroon::l402_binding(*m);
  REQUIRE(b.ok());
  CHECK(b->layout == macaroon::IdentifierLayout::Hex);
  CHECK(b->payment_hash_hex == (*withc)["expect"]["payment_hash_hex"].get<std::string>());
  CHECK(r->l402->invoice.rfind("lnbc210n1", 0) == 0);  // 21 sats, mainnet, as the script minted it
}
