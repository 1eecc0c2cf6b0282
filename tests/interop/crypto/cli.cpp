// sw_crypto_cli — test-only driver for crosscheck.mjs (never installed, never part of satwarden).
// Reads one JSON command per stdin line, writes one JSON answer per stdout line, in order:
//   {"op":"pubkey","sk":hex}                                   -> {"ok":true,"result":pubkey_hex}
//   {"op":"nip44_conversation_key","sk":hex,"pk":hex}          -> {"ok":true,"result":hex}
//   {"op":"nip44_encrypt","sk","pk","plaintext"[,"nonce"]}     -> {"ok":true,"result":payload}
//   {"op":"nip44_decrypt","sk","pk","payload"}                 -> {"ok":true,"result":plaintext}
//   {"op":"nip04_encrypt","sk","pk","plaintext"}               -> {"ok":true,"result":payload}
//   {"op":"nip04_decrypt","sk","pk","payload"}                 -> {"ok":true,"result":plaintext}
//   {"op":"sign_event","sk","event":{created_at,kind,tags,content}} -> {"ok":true,"event":{…},"serialized":"…"}
//   {"op":"verify_event","event":{…}}                          -> {"ok":true,"valid":bool,"code":…}
// Failures: {"ok":false,"code":CODE,"message":…}. Exit code 0 unless stdin is unreadable.
#include <iostream>
#include <string>

#include "nostr/nostr.h"

using namespace sw;

namespace {

json fail(const Error& e) { return json{{"ok", false}, {"code", e.code}, {"message", e.message}}; }
json fail(const std::string& code, const std::string& msg) { return fail(make_error(code, msg)); }

json run(const json& cmd) {
  const std::string op = cmd.value("op", "");
  auto sk_of = [&]() { return crypto::SecretKey::from_hex(cmd.value("sk", "")); };
  auto pk_of = [&]() { return crypto::parse_xonly_pubkey_hex(cmd.value("pk", "")); };

  if (op == "pubkey") {
    auto sk = sk_of();
    if (!sk) return fail(sk.error());
    return json{{"ok", true}, {"result", sk->public_key_hex()}};
  }
  if (op.rfind("nip44_", 0) == 0 || op.rfind("nip04_", 0) == 0) {
    auto sk = sk_of();
    if (!sk) return fail(sk.error());
    auto pk = pk_of();
    if (!pk) return fail("INVALID_PUBLIC_KEY", "bad pk");
    if (op == "nip04_encrypt" || op == "nip04_decrypt") {
      auto r = op == "nip04_encrypt" ? crypto::nip04::encrypt(cmd.value("plaintext", ""), *sk, *pk)
                                     : crypto::nip04::decrypt(cmd.value("payload", ""), *sk, *pk);
      if (!r) return fail(r.error());
      return json{{"ok", true}, {"result", *r}};
    }
    auto ck = crypto::nip44::conversation_key(*sk, *pk);
    if (!ck) return fail(ck.error());
    if (op == "nip44_conversation_key") return json{{"ok", true}, {"result", hex_encode(ck->data(), 32)}};
    if (op == "nip44_encrypt") {
      std::optional<std::array<uint8_t, 32>> nonce;
      if (cmd.contains("nonce")) {
        auto b = hex_decode_fixed(cmd.value("nonce", ""), 32);
        if (!b) return fail("BAD_COMMAND", "nonce must be 64 hex");
        nonce.emplace();
        std::copy(b->begin(), b->end(), nonce->begin());
      }
      auto r = crypto::nip44::encrypt(cmd.value("plaintext", ""), *ck, nonce);
      if (!r) return fail(r.error());
      return json{{"ok", true}, {"result", *r}};
    }
    if (op == "nip44_decrypt") {
      auto r = crypto::nip44::decrypt(cmd.value("payload", ""), *ck);
      if (!r) return fail(r.error());
      return json{{"ok", true}, {"result", *r}};
    }
  }
  if (op == "sign_event") {
    auto sk = sk_of();
    if (!sk) return fail(sk.error());
    const json& t = cmd.at("event");
    nostr::Event ev;
    ev.created_at = t.at("created_at").get<int64_t>();
    ev.kind = t.at("kind").get<int>();
    ev.tags = t.at("tags").get<std::vector<nostr::Tag>>();
    ev.content = t.at("content").get<std::string>();
    if (auto s = nostr::sign_event(ev, *sk); !s) return fail(s.error());
    return json{{"ok", true}, {"event", json::parse(nostr::serialize_event(ev))},
                {"serialized", nostr::serialize_for_id(ev)}};
  }
  if (op == "verify_event") {
    auto ev = nostr::event_from_json(cmd.at("event"));
    if (!ev) return json{{"ok", true}, {"valid", false}, {"code", ev.error().code}};
    auto s = nostr::verify_event(*ev);
    return json{{"ok", true}, {"valid", s.ok()}, {"code", s ? json(nullptr) : json(s.error().code)}};
  }
  return fail("BAD_COMMAND", "unknown op");
}

}  // namespace

int main() {
  std::ios::sync_with_stdio(false);
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    json answer;
    try {
      answer = run(json::parse(line));
    } catch (const std::exception& e) {
      answer = fail("BAD_COMMAND", e.what());
    }
    std::cout << json_dump(answer) << '\n';
  }
  std::cout.flush();
  return std::cin.bad() ? 1 : 0;
}
