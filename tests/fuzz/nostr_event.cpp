// Nostr events (from relays: wallet responses, info events, NIP-42 challenges): nostr::parse_event and
// verify_event. Round trips: serialize_event / event_to_json → parse gives the same event; the id preimage is
// the JSON array NIP-01 defines; json_string parses back to its input; an event signed with a fixed key (and
// fixed aux randomness) verifies, and a flipped content byte breaks it.
#include "fuzz.h"
#include "nostr/nostr.h"

using namespace sw;

namespace {

bool same(const nostr::Event& a, const nostr::Event& b) {
  return a.id == b.id && a.pubkey == b.pubkey && a.created_at == b.created_at && a.kind == b.kind &&
         a.tags == b.tags && a.content == b.content && a.sig == b.sig;
}

const crypto::SecretKey& fixed_key() {
  static const crypto::SecretKey sk =
      crypto::SecretKey::from_hex("71a8c14c1407c113601079c4302dab36460f0ccd0ad506f1f2dc73b5100e4f3c").value();
  return sk;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  auto ev = nostr::parse_event(text);
  if (!ev) {
    SW_FUZZ_CHECK(ev.error().code == "INVALID_EVENT");
  } else {
    auto st = nostr::verify_event(*ev);
    if (!st) {
      const std::string& c = st.error().code;
      SW_FUZZ_CHECK(c == "INVALID_EVENT" || c == "EVENT_ID_MISMATCH" || c == "EVENT_BAD_SIGNATURE");
    }
    auto again = nostr::parse_event(nostr::serialize_event(*ev));
    SW_FUZZ_CHECK(again.ok() && same(*again, *ev));
    auto from_json = nostr::event_from_json(nostr::event_to_json(*ev));
    SW_FUZZ_CHECK(from_json.ok() && same(*from_json, *ev));
    const json pre = json::parse(nostr::serialize_for_id(*ev), nullptr, false);
    SW_FUZZ_CHECK(pre.is_array() && pre.size() == 6 && pre[0] == 0 && pre[1] == ev->pubkey &&
                  pre[2] == ev->created_at && pre[3] == ev->kind && pre[5] == ev->content);
    SW_FUZZ_CHECK(nostr::compute_id(*ev).size() == 64);
    (void)nostr::find_tag(*ev, "e");
    (void)nostr::tag_value(*ev, "p");

    // Sign → verify with a fixed key.
    nostr::Event mine = *ev;
    static const uint8_t kAux[32] = {0};
    if (nostr::sign_event_with_aux(mine, fixed_key(), kAux)) {
      SW_FUZZ_CHECK(nostr::verify_event(mine).ok());
      mine.content += "x";
      SW_FUZZ_CHECK(nostr::verify_event(mine).error().code == "EVENT_ID_MISMATCH");
    }
  }
  if (crypto::valid_utf8(text)) {
    const json s = json::parse(nostr::json_string(text), nullptr, false);
    SW_FUZZ_CHECK(s.is_string() && s.get<std::string>() == text);
  }
  return 0;
}
