// sw::lnurl's pure parts: targets (LUD-01/16/17), the payRequest (LUD-06/12), the invoice check, success actions
// (LUD-09/10). The flow against real services is tests/interop/lnurl.
#include <catch2/catch.hpp>

#include "crypto/crypto.h"
#include "lnurl/lnurl.h"

using namespace sw;

TEST_CASE("lnurl: targets") {
  const std::vector<std::string> none, local{"127.0.0.1"};
  // LUD-01's own example, upper case as in QR codes.
  auto t = lnurl::parse_target(
      "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS",
      none);
  REQUIRE(t);
  CHECK(t->kind == "lnurl");
  CHECK(t->url == "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df");
  CHECK(t->domain == "service.com");
  // LUD-16 addresses, with the prefixes people paste.
  for (const char* a : {"alice@example.com", "lightning:alice@example.com", "\xE2\x82\xBF" "alice@example.com", " Alice@Example.com "}) {
    INFO(a);
    auto x = lnurl::parse_target(a, none);
    REQUIRE(x);
    CHECK(x->kind == "address");
    CHECK(x->address == "alice@example.com");
    CHECK(x->url == "https://example.com/.well-known/lnurlp/alice");
    CHECK(x->domain == "example.com");
  }
  // LUD-17.
  auto p = lnurl::parse_target("lnurlp://pay.example.com/x?y=1", none);
  REQUIRE(p);
  CHECK(p->url == "https://pay.example.com/x?y=1");
  // Plain http only where allow-listed (or .onion).
  auto h = lnurl::parse_target("http://pay.example.com/x", none);
  REQUIRE_FALSE(h);
  CHECK(h.error().code == "URL_FORBIDDEN");
  CHECK(h.error().message.find("nothing was paid") != std::string::npos);
  auto l = lnurl::parse_target("bob@127.0.0.1:8080", local);
  REQUIRE(l);
  CHECK(l->url == "http://127.0.0.1:8080/.well-known/lnurlp/bob");
  CHECK(lnurl::parse_target("bob@127.0.0.1:8080", none)->url == "https://127.0.0.1:8080/.well-known/lnurlp/bob");
  CHECK(lnurl::parse_target("lnurlp://abcdefghijklmnop.onion/p", none)->url == "http://abcdefghijklmnop.onion/p");
  // Refused.
  for (const char* bad : {"", "alice", "@example.com", "alice@", "a@b@c", "al ice@example.com", "alice@example.com/x",
                          "lnurl1invalid", "ftp://example.com/x", "lnbc1somethingelse"}) {
    INFO(bad);
    auto r = lnurl::parse_target(bad, none);
    REQUIRE_FALSE(r);
    CHECK((r.error().code == "LNURL_INVALID" || r.error().code == "URL_FORBIDDEN"));
  }
  // A bech32 string with another prefix, mixed case, a bad checksum.
  CHECK(bolt11::decode_bech32_long("lnurl1dp68gurn8ghj7um9wfmxjcm99e3k7mf0v9cxj0m385ekvcenxc6r2c35xvukxefcv5mkvv34x5ekzd3ev56nyd3hxqurzepexejxxepnxscrvwfnv9nxzcn9xq6xyefhvgcxxcmyxymnserxfq5fnt").error().code == "INVALID_BECH32");
  CHECK_FALSE(bolt11::decode_bech32_long("LNURL1dp68gurn8ghj7um9wfmxjcm99e3k7mf0v9cxj0m385ekvcenxc6r2c35xvukxefcv5mkvv34x5ekzd3ev56nyd3hxqurzepexejxxepnxscrvwfnv9nxzcn9xq6xyefhvgcxxcmyxymnserxfq5fns"));
}

TEST_CASE("lnurl: pay requests") {
  const std::vector<std::string> none;
  lnurl::Target t;
  t.kind = "address";
  t.domain = "example.com";
  const std::string md = R"([["text/plain","A coffee"],["text/identifier","alice@example.com"],["image/png;base64","iVBOR"]])";
  json good{{"tag", "payRequest"}, {"callback", "https://example.com/cb?x=1"}, {"minSendable", 1000},
            {"maxSendable", 5000000}, {"metadata", md}, {"commentAllowed", 140}};
  auto pr = lnurl::parse_pay_request(good.dump(), t, none);
  REQUIRE(pr);
  CHECK(pr->callback == "https://example.com/cb?x=1");
  CHECK(pr->min_msat == 1000);
  CHECK(pr->max_msat == 5000000);
  CHECK(pr->description == "A coffee");
  CHECK(pr->identifier == "alice@example.com");
  CHECK(pr->has_image);
  CHECK(pr->comment_allowed == 140);
  auto code = [&](json j) {
    auto r = lnurl::parse_pay_request(j.dump(), t, none);
    return r ? std::string("OK") : r.error().code;
  };
  CHECK(code(json{{"status", "ERROR"}, {"reason", "nope"}}) == "LNURL_ERROR");
  json other = good;
  other["tag"] = "withdrawRequest";
  CHECK(code(other) == "LNURL_NOT_PAY");
  json http = good;
  http["callback"] = "http://example.com/cb";
  CHECK(code(http) == "URL_FORBIDDEN");
  json range = good;
  range["minSendable"] = 6000000;
  CHECK(code(range) == "LNURL_BAD_RESPONSE");
  json zero = good;
  zero["minSendable"] = 0;
  CHECK(code(zero) == "LNURL_BAD_RESPONSE");
  json neg = good;
  neg["maxSendable"] = -5;
  CHECK(code(neg) == "LNURL_BAD_RESPONSE");
  json huge = good;
  huge["metadata"] = json::array({json::array({"text/plain", std::string(70000, 'x')})}).dump();
  CHECK(code(huge) == "LNURL_BAD_RESPONSE");
  json notext = good;
  notext["metadata"] = R"([["image/png;base64","iVBOR"]])";
  CHECK(code(notext) == "LNURL_BAD_RESPONSE");
  json badmd = good;
  badmd["metadata"] = "not json";
  CHECK(code(badmd) == "LNURL_BAD_RESPONSE");
  CHECK(code(json::array()) == "LNURL_BAD_RESPONSE");
  CHECK(lnurl::parse_pay_request(std::string(100, '['), t, none).error().code == "LNURL_BAD_RESPONSE");
  json floaty = good;
  floaty["maxSendable"] = 5000000.0;  // some services send whole numbers as floats
  CHECK(code(floaty) == "OK");
}

TEST_CASE("lnurl: success actions, aes decrypts with the preimage") {
  const std::string preimage(64, '7');
  auto m = lnurl::parse_success_action(json{{"tag", "message"}, {"message", "Thanks!"}}, preimage);
  REQUIRE(m);
  CHECK(m->message == "Thanks!");
  CHECK(m->problem.empty());
  auto s = lnurl::parse_success_action(json(R"({"tag":"message","message":"as a string"})"), preimage);
  REQUIRE(s);
  CHECK(s->message == "as a string");
  auto u = lnurl::parse_success_action(json{{"tag", "url"}, {"description", "Receipt"}, {"url", "https://x.example/r"}}, preimage);
  REQUIRE(u);
  CHECK(u->url == "https://x.example/r");
  // aes: AES-256-CBC keyed with the preimage (encrypted here with a fixed IV through the crypto module).
  auto key = hex_decode_fixed(preimage, 32);
  REQUIRE(key);
  crypto::Secret32 k(key->data());
  std::array<uint8_t, 16> iv{};
  iv.fill(9);
  auto payload = crypto::nip04::encrypt_with_shared("Door code 4711", k, iv);
  REQUIRE(payload);
  const std::string ct = payload->substr(0, payload->find("?iv=")), ivb = payload->substr(payload->find("?iv=") + 4);
  auto a = lnurl::parse_success_action(json{{"tag", "aes"}, {"description", "Code"}, {"ciphertext", ct}, {"iv", ivb}}, preimage);
  REQUIRE(a);
  CHECK(a->text == "Door code 4711");
  auto wrong = lnurl::parse_success_action(json{{"tag", "aes"}, {"ciphertext", ct}, {"iv", ivb}}, std::string(64, '8'));
  REQUIRE(wrong);
  CHECK(wrong->text.empty());
  CHECK_FALSE(wrong->problem.empty());
  CHECK_FALSE(lnurl::parse_success_action(json{{"message", "no tag"}}, preimage));
  auto odd = lnurl::parse_success_action(json{{"tag", "dance"}}, preimage);
  REQUIRE(odd);
  CHECK_FALSE(odd->problem.empty());
}
