// sw_dm_cli — test-only driver for dm.test.mjs (never installed, never part of satwarden): satwarden's DM codec
// (sw_nostr) behind one JSON command per stdin line, one JSON answer per stdout line, in order.
//   {"op":"wrap","sk":hex,"pk":hex,"text":s}        -> {"ok":true,"wrap":{event},"rumor":{rumor}}
//   {"op":"seal_as","sk":hex,"author":hex,"pk":hex,"text":s}
//        a kind-14 rumor claiming `author`, sealed and signed by sk (impersonation test) -> {"ok":true,"wrap":{…}}
//   {"op":"open","sk":hex,"event":{…}}              -> {"ok":true,"dm":{kind,sender,content,created_at,id,tags,wrap_id}}
//   {"op":"nip04_make","sk":hex,"pk":hex,"text":s}  -> {"ok":true,"event":{…}}
//   {"op":"nip04_open","sk":hex,"event":{…}}        -> as open
//   {"op":"npub","pk":hex} -> {"ok":true,"result":npub};  {"op":"parse_pubkey","s":s} -> {"ok":true,"result":hex}
// Failures: {"ok":false,"code":CODE,"message":…}.
#include <iostream>
#include <string>

#include "nostr/nostr.h"

using namespace sw;

namespace {

json fail(const Error& e) { return json{{"ok", false}, {"code", e.code}, {"message", e.message}}; }

json dm_json(const nostr::ReceivedDm& d) {
  return json{{"kind", d.kind}, {"sender", d.sender_pubkey}, {"content", d.content}, {"created_at", d.created_at},
              {"id", d.id}, {"tags", d.tags}, {"wrap_id", d.wrap_id}};
}

json run(const json& cmd) {
  const std::string op = cmd.value("op", "");
  if (op == "npub") {
    auto pk = crypto::parse_xonly_pubkey_hex(cmd.value("pk", ""));
    if (!pk) return fail(make_error("INVALID_PUBLIC_KEY", "bad pk"));
    return json{{"ok", true}, {"result", nostr::npub_encode(*pk)}};
  }
  if (op == "parse_pubkey") {
    auto pk = nostr::parse_public_key(cmd.value("s", ""));
    if (!pk) return fail(pk.error());
    return json{{"ok", true}, {"result", hex_encode(pk->data(), 32)}};
  }
  auto sk = crypto::SecretKey::from_hex(cmd.value("sk", ""));
  if (!sk) return fail(sk.error());
  if (op == "open" || op == "nip04_open") {
    auto ev = nostr::event_from_json(cmd.at("event"));
    if (!ev) return fail(ev.error());
    auto d = op == "open" ? nostr::open_gift_wrap(*ev, *sk) : nostr::open_nip04_dm(*ev, *sk);
    if (!d) return fail(d.error());
    return json{{"ok", true}, {"dm", dm_json(*d)}};
  }
  auto pk = crypto::parse_xonly_pubkey_hex(cmd.value("pk", ""));
  if (!pk) return fail(make_error("INVALID_PUBLIC_KEY", "bad pk"));
  const std::string text = cmd.value("text", "");
  if (op == "wrap") {
    auto w = nostr::wrap_private_dm(*sk, *pk, text);
    if (!w) return fail(w.error());
    json rumor = nostr::event_to_json(w->rumor);
    rumor.erase("sig");
    return json{{"ok", true}, {"wrap", nostr::event_to_json(w->wrap)}, {"rumor", rumor}};
  }
  if (op == "seal_as") {
    auto r = nostr::make_rumor(cmd.value("author", ""), nostr::kKindPrivateDm, {{"p", cmd.value("pk", "")}}, text,
                               Clock::system().now_unix());
    auto seal = nostr::seal_rumor(r, *sk, *pk);
    if (!seal) return fail(seal.error());
    auto w = nostr::gift_wrap(*seal, *pk);
    if (!w) return fail(w.error());
    return json{{"ok", true}, {"wrap", nostr::event_to_json(*w)}};
  }
  if (op == "nip04_make") {
    auto e = nostr::make_nip04_dm(*sk, *pk, text);
    if (!e) return fail(e.error());
    return json{{"ok", true}, {"event", nostr::event_to_json(*e)}};
  }
  return fail(make_error("BAD_COMMAND", "unknown op"));
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
      answer = fail(make_error("BAD_COMMAND", e.what()));
    }
    std::cout << json_dump(answer) << '\n' << std::flush;
  }
  return std::cin.bad() ? 1 : 0;
}
