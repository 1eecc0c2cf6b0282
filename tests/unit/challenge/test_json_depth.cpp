// JSON inside MPP challenges, credentials and receipts nests at most kMaxJsonDepth (64) levels: deeper JSON is
// refused before it is parsed, since the payment path copies the parsed request and copying recurses once per
// level (a 100,000-deep request in a Payment challenge — from a paid API, or an agent's challenge_header —
// overflowed the stack; found by tests/fuzz, inputs in tests/fuzz/regressions/challenge and credential).
#include <catch2/catch.hpp>

#include "challenge/challenge.h"

using namespace sw;
using namespace sw::challenge;

namespace {

std::string nested(size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

const std::string kInvoice =
    "lnbc100n1pj48ugqpp546j9g0d3jz3w4my09st9k7l9c8gz2dwfs08gw7fmsm05";  // any string: not decoded here

AuthChallenge payment_with_request(const std::string& request_json) {
  auto parsed = parse_www_authenticate("Payment id=\"i\", realm=\"r\", method=\"lightning\", intent=\"charge\", request=\"" +
                                       base64url_encode(request_json) + "\"");
  REQUIRE(parsed);
  REQUIRE(parsed->size() == 1);
  return (*parsed)[0];
}

// A charge request whose extra member "x" makes the whole request nest `depth` levels.
std::string request_nesting(size_t depth) {
  return "{\"amount\":\"10\",\"currency\":\"sat\",\"methodDetails\":{\"invoice\":\"" + kInvoice + "\"},\"x\":" +
         nested(depth - 1) + "}";
}

}  // namespace

TEST_CASE("json_nesting_exceeds counts brackets outside strings") {
  CHECK_FALSE(json_nesting_exceeds("{}", 1));
  CHECK(json_nesting_exceeds("[[]]", 1));
  CHECK_FALSE(json_nesting_exceeds("[\"[[[[\\\"[[[\"]", 1));
  CHECK_FALSE(json_nesting_exceeds(nested(64), 64));
  CHECK(json_nesting_exceeds(nested(65), 64));
  CHECK(json_nesting_exceeds(nested(200000), 64));
}

TEST_CASE("MPP request: 64 levels are parsed, deeper is not and the charge is refused") {
  auto ok = parse_mpp(payment_with_request(request_nesting(64)));
  REQUIRE(ok);
  REQUIRE(ok->request_json);
  auto charge = parse_lightning_charge(*ok);
  REQUIRE(charge);
  CHECK(charge->amount_sat == 10);

  for (size_t depth : {65, 100000}) {
    auto deep = parse_mpp(payment_with_request(request_nesting(depth)));
    REQUIRE(deep);  // the challenge itself is well-formed
    CHECK_FALSE(deep->request_json);
    const MppChallenge copy = *deep;  // what the payment paths do with it
    CHECK(copy.request == deep->request);
    auto refused = parse_lightning_charge(*deep);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == "INVALID_CHALLENGE");
  }
  auto sel = select_challenge({"Payment id=\"i\", realm=\"r\", method=\"lightning\", intent=\"charge\", request=\"" +
                               base64url_encode(request_nesting(100000)) + "\""});
  REQUIRE_FALSE(sel);
  CHECK(sel.error().code == "INVALID_CHALLENGE");
}

TEST_CASE("MPP credential and receipt: deeper than 64 levels is refused") {
  auto credential = [](size_t payload_depth) {
    return "Payment " + base64url_encode("{\"challenge\":{\"id\":\"a\"},\"payload\":{\"x\":" +
                                         nested(payload_depth) + "}}");
  };
  CHECK(validate_credential(credential(62)));  // payload object at level 2, so 64 in all
  auto deep = validate_credential(credential(30000));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == "INVALID_CREDENTIAL");
  CHECK(deep.error().message.find("deeper than 64") != std::string::npos);

  CHECK(parse_receipt(base64url_encode("{\"x\":" + nested(63) + "}")));
  auto receipt = parse_receipt(base64url_encode("{\"x\":" + nested(100000) + "}"));
  REQUIRE_FALSE(receipt);
  CHECK(receipt.error().code == "INVALID_RECEIPT");
}
