// NIP-01 events against nostr-events.json: every real, invalid and generated event, and the generated NWC flow
// (conversation key, fixed-nonce NIP-44 / fixed-IV NIP-04 contents reproduced byte for byte, signatures).
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "nostr/nostr.h"

using namespace sw;
using namespace sw::nostr;

namespace {

const json& vec() {
  static const json j = [] {
    std::ifstream f(std::string(SW_VECTORS_DIR) + "/nostr-events.json", std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return json::parse(ss.str());
  }();
  return j;
}

template <size_t N>
std::array<uint8_t, N> hexa(const std::string& h) {
  auto b = hex_decode_fixed(h, N);
  REQUIRE(b);
  std::array<uint8_t, N> a{};
  std::copy(b->begin(), b->end(), a.begin());
  return a;
}

crypto::SecretKey sk_hex(const std::string& h) {
  auto k = crypto::SecretKey::from_hex(h);
  REQUIRE(k);
  return std::move(k).value();
}

Event parse_ok(const json& j) {
  auto r = event_from_json(j);
  INFO(j.dump());
  REQUIRE(r);
  return std::move(r).value();
}

// Checks that hold for every entry: our serialization and id equal the recorded ones.
void check_serialization(const json& entry, const Event& ev) {
  CHECK(serialize_for_id(ev) == entry["serialized"].get<std::string>());
  CHECK(compute_id(ev) == entry["computed_id"].get<std::string>());
}

const std::array<uint8_t, 32> kZeroAux{};

}  // namespace

TEST_CASE("real_events: serialization, id and signature all match", "[events]") {
  const auto& list = vec()["real_events"];
  REQUIRE(list.size() == 18);
  for (const auto& e : list) {
    INFO(e["note"].get<std::string>());
    REQUIRE(e["id_valid"].get<bool>());
    Event ev = parse_ok(e["event"]);
    check_serialization(e, ev);
    CHECK(ev.id == e["computed_id"].get<std::string>());
    auto st = verify_event(ev);
    INFO((st ? std::string("ok") : st.error().code));
    CHECK(st);
    // Our full-object serialization parses back to the same event (and still verifies).
    auto again = parse_event(serialize_event(ev));
    REQUIRE(again);
    CHECK(serialize_for_id(*again) == serialize_for_id(ev));
    CHECK(again->sig == ev.sig);
    CHECK(verify_event(*again));
    // And through nlohmann (event_to_json) as well.
    auto via_json = event_from_json(json::parse(event_to_json(ev).dump()));
    REQUIRE(via_json);
    CHECK(compute_id(*via_json) == ev.id);
  }
}

TEST_CASE("invalid_events: each fails for the recorded reason", "[events]") {
  const auto& list = vec()["invalid_events"];
  REQUIRE(list.size() == 5);
  for (const auto& e : list) {
    INFO(e["note"].get<std::string>());
    Event ev = parse_ok(e["event"]);
    check_serialization(e, ev);
    auto st = verify_event(ev);
    REQUIRE_FALSE(st);
    CHECK(st.error().code == (e["id_valid"].get<bool>() ? "EVENT_BAD_SIGNATURE" : "EVENT_ID_MISMATCH"));
  }
}

TEST_CASE("generated_events: escape edge cases, re-signed byte for byte", "[events]") {
  const auto& list = vec()["generated_events"];
  REQUIRE(list.size() == 7);
  for (const auto& e : list) {
    INFO(e["note"].get<std::string>());
    Event ev = parse_ok(e["event"]);
    check_serialization(e, ev);
    CHECK(verify_event(ev));
    Event mine = ev;
    mine.id.clear();
    mine.sig.clear();
    mine.pubkey.clear();
    REQUIRE(sign_event_with_aux(mine, sk_hex(e["secret_key"]), kZeroAux.data()));
    CHECK(mine.pubkey == ev.pubkey);
    CHECK(mine.id == ev.id);
    CHECK(mine.sig == ev.sig);
  }
}

TEST_CASE("generated_nwc_flow: keys, contents and events reproduced exactly", "[events][nwc]") {
  const auto& f = vec()["generated_nwc_flow"];
  auto client = sk_hex(f["client_secret"]);
  auto wallet = sk_hex(f["wallet_secret"]);
  CHECK(client.public_key_hex() == f["client_pubkey"].get<std::string>());
  CHECK(wallet.public_key_hex() == f["wallet_pubkey"].get<std::string>());

  auto ck_c = crypto::nip44::conversation_key(client, wallet.public_key());
  auto ck_w = crypto::nip44::conversation_key(wallet, client.public_key());
  REQUIRE(ck_c);
  REQUIRE(ck_w);
  CHECK(hex_encode(ck_c->data(), 32) == f["nip44_conversation_key"].get<std::string>());
  CHECK(hex_encode(ck_w->data(), 32) == f["nip44_conversation_key"].get<std::string>());

  // The URI names the same keys.
  auto uri = parse_nwc_uri(f["connection_uri"].get<std::string>());
  REQUIRE(uri);
  CHECK(uri->wallet_pubkey_hex == f["wallet_pubkey"].get<std::string>());
  CHECK(uri->client_pubkey_hex == f["client_pubkey"].get<std::string>());
  CHECK(uri->relays == std::vector<std::string>{"wss://relay.example.com", "wss://relay2.example.com/v1"});
  REQUIRE(uri->lud16);
  CHECK(*uri->lud16 == "agent@example.com");

  struct Part {
    const char* name;
    const crypto::SecretKey* signer;
  };
  for (Part p : {Part{"info_event", &wallet}, Part{"request", &client}, Part{"response_ok", &wallet},
                 Part{"response_error", &wallet}, Part{"legacy_nip04_request", &client}}) {
    INFO(p.name);
    const auto& e = f[p.name];
    Event ev = parse_ok(e["event"]);
    check_serialization(e, ev);
    REQUIRE(verify_event(ev));

    if (e.contains("nonce")) {  // NIP-44 content
      auto enc = crypto::nip44::encrypt(e["plaintext"].get<std::string>(), *ck_c, hexa<32>(e["nonce"]));
      REQUIRE(enc);
      CHECK(*enc == ev.content);
      auto dec = crypto::nip44::decrypt(ev.content, *ck_w);
      REQUIRE(dec);
      CHECK(*dec == e["plaintext"].get<std::string>());
    } else if (e.contains("iv_hex")) {  // NIP-04 content, client -> wallet
      auto enc = crypto::nip04::encrypt(e["plaintext"].get<std::string>(), client, wallet.public_key(),
                                        hexa<16>(e["iv_hex"]));
      REQUIRE(enc);
      CHECK(*enc == ev.content);
      auto dec = crypto::nip04::decrypt(ev.content, wallet, client.public_key());
      REQUIRE(dec);
      CHECK(*dec == e["plaintext"].get<std::string>());
    }

    Event mine{"", "", ev.created_at, ev.kind, ev.tags, ev.content, ""};
    REQUIRE(sign_event_with_aux(mine, *p.signer, kZeroAux.data()));
    CHECK(mine.id == ev.id);
    CHECK(mine.sig == ev.sig);
  }
  Event req = parse_ok(f["request"]["event"]);
  CHECK(tag_value(req, "p") == f["wallet_pubkey"].get<std::string>());
  CHECK(tag_value(req, "encryption") == std::string("nip44_v2"));
  CHECK(tag_value(req, "expiration") == std::string("1700000060"));
  CHECK_FALSE(tag_value(req, "e"));
}

TEST_CASE("NIP-01 escaping rules", "[events]") {
  CHECK(json_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(json_string("\n\r\t\b\f") == "\"\\n\\r\\t\\b\\f\"");
  CHECK(json_string(std::string("\x00\x01\x1f", 3)) == "\"\\u0000\\u0001\\u001f\"");
  CHECK(json_string("\x1b") == "\"\\u001b\"");  // lowercase hex
  CHECK(json_string("/ < > & ' \x7f") == "\"/ < > & ' \x7f\"");
  CHECK(json_string("\xe2\x80\xa8\xe2\x80\xa9 \xc2\xa0 \xf0\x9f\xa6\x84") == "\"\xe2\x80\xa8\xe2\x80\xa9 \xc2\xa0 \xf0\x9f\xa6\x84\"");
  CHECK(json_string("\\/") == "\"\\\\/\"");
  Event ev{"", std::string(64, 'a'), 1, 2, {{"t", "x\ny"}, {}}, "c", ""};
  CHECK(serialize_for_id(ev) == "[0,\"" + std::string(64, 'a') + "\",1,2,[[\"t\",\"x\\ny\"],[]],\"c\"]");
}

TEST_CASE("sign_event / verify_event round trip and tampering", "[events]") {
  auto sk = crypto::SecretKey::generate();
  Event ev;
  ev.created_at = 1700000000;
  ev.kind = 23194;
  ev.tags = {{"p", std::string(64, '1')}, {"encryption", "nip44_v2"}};
  ev.content = "ciphertext \"quoted\" \x01 \xf0\x9f\x98\x80";
  REQUIRE(sign_event(ev, sk));
  CHECK(ev.pubkey == sk.public_key_hex());
  CHECK(ev.id.size() == 64);
  CHECK(ev.sig.size() == 128);
  REQUIRE(verify_event(ev));

  auto code = [](const Event& e) {
    auto s = verify_event(e);
    return s ? std::string("OK") : s.error().code;
  };
  Event t = ev;
  t.content += " ";
  CHECK(code(t) == "EVENT_ID_MISMATCH");
  t = ev;
  t.tags[1][1] = "nip04";
  CHECK(code(t) == "EVENT_ID_MISMATCH");
  t = ev;
  t.kind = 23195;
  CHECK(code(t) == "EVENT_ID_MISMATCH");
  t = ev;
  t.sig[0] = t.sig[0] == '0' ? '1' : '0';
  CHECK(code(t) == "EVENT_BAD_SIGNATURE");
  t = ev;  // a valid signature by somebody else over the same id
  auto other = crypto::SecretKey::generate();
  Event o = ev;
  REQUIRE(sign_event(o, other));
  t.sig = o.sig;
  CHECK(code(t) == "EVENT_BAD_SIGNATURE");
  t = ev;
  t.id[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(t.id[0] == '0' ? 'a' : t.id[0])));
  if (t.id != ev.id) CHECK(code(t) == "INVALID_EVENT");
  t = ev;
  t.pubkey = std::string(64, 'f');
  CHECK(code(t) == "INVALID_EVENT");
  t = ev;
  t.sig.pop_back();
  CHECK(code(t) == "INVALID_EVENT");

  Event bad;
  bad.kind = 70000;
  auto s = sign_event(bad, sk);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == "INVALID_EVENT");
  bad.kind = 1;
  bad.created_at = -1;
  CHECK(sign_event(bad, sk).error().code == "INVALID_EVENT");
  bad.created_at = 0;
  bad.content = "\xc3\x28";
  CHECK(sign_event(bad, sk).error().code == "INVALID_EVENT");
  bad.content = "";
  CHECK(sign_event(bad, crypto::SecretKey{}).error().code == "INVALID_SECRET_KEY");
}

TEST_CASE("event_from_json is strict about types and hex", "[events]") {
  const json base = vec()["real_events"][0]["event"];
  REQUIRE(event_from_json(base));
  auto code_with = [&](const std::string& field, const json& value) {
    json j = base;
    j[field] = value;
    auto r = event_from_json(j);
    return r ? std::string("OK") : r.error().code;
  };
  auto code_without = [&](const std::string& field) {
    json j = base;
    j.erase(field);
    auto r = event_from_json(j);
    return r ? std::string("OK") : r.error().code;
  };
  std::string id = base["id"];
  std::string upper = id;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  CHECK(code_with("id", upper) == "INVALID_EVENT");
  CHECK(code_with("id", id.substr(1)) == "INVALID_EVENT");
  CHECK(code_with("id", id + "0") == "INVALID_EVENT");
  CHECK(code_with("id", 5) == "INVALID_EVENT");
  CHECK(code_with("pubkey", std::string(63, 'a') + "g") == "INVALID_EVENT");
  CHECK(code_with("sig", std::string(126, 'a')) == "INVALID_EVENT");
  CHECK(code_with("created_at", "1741372931") == "INVALID_EVENT");
  CHECK(code_with("created_at", 1741372931.0) == "INVALID_EVENT");
  CHECK(code_with("created_at", -5) == "INVALID_EVENT");
  CHECK(code_with("created_at", json::number_unsigned_t{18446744073709551615ull}) == "INVALID_EVENT");
  CHECK(code_with("kind", 65536) == "INVALID_EVENT");
  CHECK(code_with("kind", -1) == "INVALID_EVENT");
  CHECK(code_with("kind", "7") == "INVALID_EVENT");
  CHECK(code_with("kind", 7.0) == "INVALID_EVENT");
  CHECK(code_with("kind", 65535) == "OK");
  CHECK(code_with("tags", json::object()) == "INVALID_EVENT");
  CHECK(code_with("tags", json::array({"e"})) == "INVALID_EVENT");
  CHECK(code_with("tags", json::array({json::array({"e", 1})})) == "INVALID_EVENT");
  CHECK(code_with("tags", json::array({json::array({"e", nullptr})})) == "INVALID_EVENT");
  CHECK(code_with("content", nullptr) == "INVALID_EVENT");
  CHECK(code_with("extra", "ignored") == "OK");
  for (const char* f : {"id", "pubkey", "created_at", "kind", "tags", "content", "sig"}) {
    INFO(f);
    CHECK(code_without(f) == "INVALID_EVENT");
  }
  CHECK_FALSE(event_from_json(json::array()));
  CHECK_FALSE(parse_event("{not json"));
  CHECK_FALSE(parse_event(""));
  // Text form: a float literal and an exponent are not integers.
  std::string text = base.dump();
  auto pos = text.find("1741372931");
  REQUIRE(pos != std::string::npos);
  CHECK_FALSE(parse_event(text.substr(0, pos) + "1741372931.0" + text.substr(pos + 10)));
  CHECK_FALSE(parse_event(text.substr(0, pos) + "1.741372931e9" + text.substr(pos + 10)));
  CHECK(parse_event(text));
}
