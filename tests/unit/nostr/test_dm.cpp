// Direct messages: NIP-17/NIP-59 gift wraps (build, open, every refusal: tampered layers, impersonating seal,
// wrong kinds, wrong recipient, deep JSON) and NIP-04 kind-4 DMs; NIP-19 npub parsing.
#include <catch2/catch.hpp>

#include <cstring>

#include "nostr/nostr.h"

using namespace sw;
using namespace sw::nostr;

namespace {

crypto::SecretKey key(const std::string& hex) {
  auto k = crypto::SecretKey::from_hex(hex);
  REQUIRE(k);
  return *k;
}

const crypto::SecretKey& alice() {
  static const crypto::SecretKey k = key("0000000000000000000000000000000000000000000000000000000000000001");
  return k;
}
const crypto::SecretKey& bob() {
  static const crypto::SecretKey k = key("7f7ff03d123792d6ac594bfa67bf6d0c0ab55b6b1fdb6249303fe861f1ccba9a");
  return k;
}
const crypto::SecretKey& eve() {
  static const crypto::SecretKey k = key("c15d739894c81a2fcfd3a2df85a0d2c0dbc47a280d092799f144d73d7ae78add");
  return k;
}

// Deterministic byte stream (a counter through SHA-256): reproducible DMs in tests only.
struct CounterRandom {
  uint64_t n = 0;
  void operator()(uint8_t* out, size_t len) {
    while (len > 0) {
      uint8_t ctr[8];
      for (int i = 0; i < 8; ++i) ctr[i] = static_cast<uint8_t>(n >> (8 * i));
      ++n;
      auto h = crypto::sha256(ctr, sizeof ctr);
      const size_t k = std::min(len, h.size());
      std::memcpy(out, h.data(), k);
      out += k;
      len -= k;
    }
  }
};

DmBuildOptions fixed(int64_t now, uint64_t seed = 1) {
  DmBuildOptions o;
  o.now = now;
  o.random = CounterRandom{seed};
  return o;
}

constexpr int64_t kNow = 1767225600;  // 2026-01-01

// Re-encrypts `inner` (JSON text) as a seal signed by `signer` to `recipient`, then wraps it.
Event wrap_raw_rumor_json(const std::string& inner, const crypto::SecretKey& signer, const crypto::SecretKey& recipient) {
  auto ck = crypto::nip44::conversation_key(signer, recipient.public_key());
  REQUIRE(ck);
  auto ct = crypto::nip44::encrypt(inner, *ck);
  REQUIRE(ct);
  Event seal;
  seal.kind = kKindSeal;
  seal.created_at = kNow - 10;
  seal.content = *ct;
  REQUIRE(sign_event(seal, signer));
  auto w = gift_wrap(seal, recipient.public_key());
  REQUIRE(w);
  return *w;
}

}  // namespace

TEST_CASE("npub: NIP-19 vector, round trip, hex and refusals") {
  auto pk = parse_public_key("npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg");
  REQUIRE(pk);
  CHECK(hex_encode(pk->data(), 32) == "7e7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e");
  CHECK(npub_encode(*pk) == "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg");
  auto upper = parse_public_key("  NPUB10ELFCS4FR0L0R8AF98JLMGDH9C8TCXJVZ9QKW038JS35MP4DMA8QZVJPTG\n");
  REQUIRE(upper);
  CHECK(*upper == *pk);
  auto hex = parse_public_key("7E7E9C42A91BFEF19FA929E5FDA1B72E0EBC1A4C1141673E2794234D86ADDF4E");
  REQUIRE(hex);
  CHECK(*hex == *pk);
  CHECK(npub_encode(bob().public_key()).rfind("npub1", 0) == 0);
  CHECK(*parse_public_key(npub_encode(bob().public_key())) == bob().public_key());

  for (const char* bad : {"", "npub1", "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpth",  // checksum
                          "nPub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjptg",            // mixed case
                          "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5",            // not npub
                          "npub10elfcs4fr0l0r8af98jlmgdh9c8tcxjvz9qkw038js35mp4dma8qzvjpt",             // short
                          "zz7e9c42a91bfef19fa929e5fda1b72e0ebc1a4c1141673e2794234d86addf4e",
                          // BIP-340 vector 5: not the x of a point on the curve
                          "eefdea4cdb677750a420fee807eacf21eb9898ae79b9768766e4faa04a2d4a34"}) {
    auto r = parse_public_key(bad);
    INFO(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "INVALID_PUBLIC_KEY");
  }
}

TEST_CASE("gift wrap: built to NIP-17/NIP-59 shape and opened by the recipient") {
  auto w = wrap_private_dm(alice(), bob().public_key(), "approve 7F3K? \"quoted\"\n🦄", fixed(kNow));
  REQUIRE(w);
  const Event& wrap = w->wrap;
  CHECK(wrap.kind == 1059);
  REQUIRE(verify_event(wrap));
  CHECK(wrap.pubkey != alice().public_key_hex());  // ephemeral
  CHECK(wrap.pubkey != bob().public_key_hex());
  REQUIRE(wrap.tags.size() == 1);
  CHECK(wrap.tags[0] == Tag{"p", bob().public_key_hex()});
  CHECK(wrap.created_at <= kNow);
  CHECK(wrap.created_at >= kNow - kWrapMaxBackdateS);

  const Event& rumor = w->rumor;
  CHECK(rumor.kind == 14);
  CHECK(rumor.sig.empty());
  CHECK(rumor.pubkey == alice().public_key_hex());
  CHECK(rumor.created_at == kNow);
  CHECK(rumor.id == compute_id(rumor));
  REQUIRE(rumor.tags.size() == 1);
  CHECK(rumor.tags[0] == Tag{"p", bob().public_key_hex()});

  auto got = open_gift_wrap(wrap, bob());
  REQUIRE(got);
  CHECK(got->kind == 14);
  CHECK(got->sender_pubkey == alice().public_key_hex());
  CHECK(got->content == "approve 7F3K? \"quoted\"\n🦄");
  CHECK(got->created_at == kNow);
  CHECK(got->id == rumor.id);
  CHECK(got->wrap_id == wrap.id);
  CHECK(got->tags == rumor.tags);

  // The seal inside: kind 13, signed by the sender, no tags, backdated, with no sig on the rumor it carries.
  auto ck = crypto::nip44::conversation_key(bob(), *crypto::parse_xonly_pubkey_hex(wrap.pubkey));
  REQUIRE(ck);
  auto seal_text = crypto::nip44::decrypt(wrap.content, *ck);
  REQUIRE(seal_text);
  auto seal = parse_event(*seal_text);
  REQUIRE(seal);
  CHECK(seal->kind == 13);
  CHECK(seal->pubkey == alice().public_key_hex());
  CHECK(seal->tags.empty());
  CHECK(seal->created_at <= kNow);
  CHECK(seal->created_at >= kNow - kWrapMaxBackdateS);
  REQUIRE(verify_event(*seal));
  auto ck2 = crypto::nip44::conversation_key(bob(), alice().public_key());
  auto rumor_text = crypto::nip44::decrypt(seal->content, *ck2);
  REQUIRE(rumor_text);
  auto rj = json::parse(*rumor_text);
  CHECK_FALSE(rj.contains("sig"));
  CHECK(rj.at("id") == rumor.id);
}

TEST_CASE("gift wrap: the injected random source makes the output reproducible, the default does not") {
  auto a = wrap_private_dm(alice(), bob().public_key(), "hello", fixed(kNow, 7));
  auto b = wrap_private_dm(alice(), bob().public_key(), "hello", fixed(kNow, 7));
  auto c = wrap_private_dm(alice(), bob().public_key(), "hello", fixed(kNow, 8));
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(serialize_event(a->wrap) == serialize_event(b->wrap));
  CHECK(a->wrap.id != c->wrap.id);
  CHECK(a->rumor.id == c->rumor.id);  // the rumor has no randomness
  DmBuildOptions sys;
  sys.now = kNow;
  auto d = wrap_private_dm(alice(), bob().public_key(), "hello", sys);
  auto e = wrap_private_dm(alice(), bob().public_key(), "hello", sys);
  REQUIRE(d);
  REQUIRE(e);
  CHECK(d->wrap.pubkey != e->wrap.pubkey);
  CHECK(open_gift_wrap(d->wrap, bob())->content == "hello");
}

TEST_CASE("gift wrap: backdating spreads over two days and never goes below zero") {
  int64_t lo = kNow, hi = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    auto w = wrap_private_dm(alice(), bob().public_key(), "x", fixed(kNow, seed * 1000));
    REQUIRE(w);
    lo = std::min(lo, w->wrap.created_at);
    hi = std::max(hi, w->wrap.created_at);
    CHECK(w->wrap.created_at >= kNow - kWrapMaxBackdateS);
    CHECK(w->wrap.created_at <= kNow);
  }
  CHECK(hi - lo > kWrapMaxBackdateS / 4);  // 40 draws over 2 days: a spread below 12 h means no randomization
  auto early = wrap_private_dm(alice(), bob().public_key(), "x", fixed(100));
  REQUIRE(early);
  CHECK(early->wrap.created_at >= 0);
  CHECK(verify_event(early->wrap));
}

TEST_CASE("gift wrap: refusals") {
  auto w = wrap_private_dm(alice(), bob().public_key(), "secret text", fixed(kNow));
  REQUIRE(w);

  SECTION("another recipient cannot open it") {
    auto r = open_gift_wrap(w->wrap, eve());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "DM_DECRYPT_FAILED");
    CHECK(r.error().details.at("layer") == "wrap");
    CHECK(r.error().message.find("secret") == std::string::npos);
  }
  SECTION("wrong outer kind") {
    Event e = w->wrap;
    e.kind = 4;
    CHECK(open_gift_wrap(e, bob()).error().code == "DM_WRONG_KIND");
  }
  SECTION("wrap with a bad signature or tampered content") {
    Event e = w->wrap;
    e.sig[10] = e.sig[10] == 'a' ? 'b' : 'a';
    auto r = open_gift_wrap(e, bob());
    CHECK(r.error().code == "DM_INVALID_EVENT");
    CHECK(r.error().details.at("cause") == "EVENT_BAD_SIGNATURE");
    Event f = w->wrap;
    f.content[20] = f.content[20] == 'A' ? 'B' : 'A';
    CHECK(open_gift_wrap(f, bob()).error().code == "DM_INVALID_EVENT");  // id no longer matches
  }
  SECTION("re-signed wrap with tampered ciphertext fails the MAC") {
    Event e = w->wrap;
    e.content[40] = e.content[40] == 'A' ? 'B' : 'A';
    auto eph = crypto::SecretKey::generate();
    REQUIRE(sign_event(e, eph));  // now signed by another key: the conversation key differs too
    auto r = open_gift_wrap(e, bob());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == "DM_DECRYPT_FAILED");
  }
  SECTION("empty, oversized and non-UTF-8 texts are not sent") {
    CHECK(wrap_private_dm(alice(), bob().public_key(), "").error().code == "INVALID_ARGUMENT");
    CHECK(wrap_private_dm(alice(), bob().public_key(), std::string(kMaxDmTextBytes + 1, 'a')).error().code ==
          "INVALID_ARGUMENT");
    CHECK(wrap_private_dm(alice(), bob().public_key(), std::string(kMaxDmTextBytes, 'a')));
    CHECK(wrap_private_dm(alice(), bob().public_key(), "\xff\xfe").error().code == "INVALID_ARGUMENT");
    CHECK(make_nip04_dm(alice(), bob().public_key(), "").error().code == "INVALID_ARGUMENT");
    CHECK(wrap_private_dm(crypto::SecretKey{}, bob().public_key(), "x").error().code == "INVALID_SECRET_KEY");
  }
  SECTION("a random source that yields no valid key") {
    DmBuildOptions zeros;
    zeros.now = kNow;
    zeros.random = [](uint8_t* out, size_t len) { std::memset(out, 0, len); };
    CHECK(wrap_private_dm(alice(), bob().public_key(), "x", zeros).error().code == "DM_RANDOM_FAILED");
  }
}

TEST_CASE("gift wrap: a seal signed by one key carrying a rumor claiming another author is refused") {
  // Eve seals a rumor that claims to be from Alice: the seal's signature is valid (Eve's), the rumor's id is right.
  Event forged = make_rumor(alice().public_key_hex(), kKindPrivateDm, {{"p", bob().public_key_hex()}}, "approve 7F3K",
                            kNow);
  auto seal = seal_rumor(forged, eve(), bob().public_key(), fixed(kNow));
  REQUIRE(seal);
  CHECK(seal->pubkey == eve().public_key_hex());
  auto wrap = gift_wrap(*seal, bob().public_key(), fixed(kNow, 99));
  REQUIRE(wrap);
  auto r = open_gift_wrap(*wrap, bob());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == "DM_SENDER_MISMATCH");

  // The same rumor sealed by its real author opens.
  auto honest = gift_wrap(*seal_rumor(forged, alice(), bob().public_key()), bob().public_key());
  REQUIRE(honest);
  auto ok = open_gift_wrap(*honest, bob());
  REQUIRE(ok);
  CHECK(ok->sender_pubkey == alice().public_key_hex());
}

TEST_CASE("gift wrap: malformed inner layers") {
  SECTION("rumor of another kind") {
    Event r = make_rumor(alice().public_key_hex(), 1, {}, "note", kNow);
    auto w = gift_wrap(*seal_rumor(r, alice(), bob().public_key()), bob().public_key());
    CHECK(open_gift_wrap(*w, bob()).error().code == "DM_WRONG_KIND");
  }
  SECTION("seal of another kind") {
    Event not_seal;
    not_seal.kind = 1;
    not_seal.created_at = kNow;
    not_seal.content = "hi";
    REQUIRE(sign_event(not_seal, alice()));
    auto w = gift_wrap(not_seal, bob().public_key());
    CHECK(open_gift_wrap(*w, bob()).error().code == "DM_WRONG_KIND");
  }
  SECTION("seal with a bad signature") {
    auto seal = seal_rumor(make_rumor(alice().public_key_hex(), 14, {}, "x", kNow), alice(), bob().public_key());
    REQUIRE(seal);
    seal->sig[0] = seal->sig[0] == '0' ? '1' : '0';
    auto w = gift_wrap(*seal, bob().public_key());
    auto r = open_gift_wrap(*w, bob());
    CHECK(r.error().code == "DM_INVALID_SEAL");
  }
  SECTION("seal that is not JSON or nests too deep") {
    auto eph = crypto::SecretKey::generate();
    auto wrap_text = [&](const std::string& text) {
      auto ck = crypto::nip44::conversation_key(eph, bob().public_key());
      Event w;
      w.kind = kKindGiftWrap;
      w.created_at = kNow;
      w.tags = {{"p", bob().public_key_hex()}};
      w.content = *crypto::nip44::encrypt(text, *ck);
      REQUIRE(sign_event(w, eph));
      return w;
    };
    CHECK(open_gift_wrap(wrap_text("not json"), bob()).error().code == "DM_INVALID_SEAL");
    CHECK(open_gift_wrap(wrap_text("[1,2]"), bob()).error().code == "DM_INVALID_SEAL");
    std::string deep = std::string(100, '[') + std::string(100, ']');
    auto r = open_gift_wrap(wrap_text("{\"a\":" + deep + "}"), bob());
    CHECK(r.error().code == "DM_INVALID_SEAL");
    CHECK(r.error().message.find("deeper") != std::string::npos);
  }
  SECTION("rumor that is not JSON, too deep, malformed or with a wrong id") {
    CHECK(open_gift_wrap(wrap_raw_rumor_json("nope", alice(), bob()), bob()).error().code == "DM_INVALID_RUMOR");
    Event r = make_rumor(alice().public_key_hex(), 14, {}, "x", kNow);
    json j = json::parse(serialize_event(r));
    j.erase("sig");
    json deep = json::array();
    for (int i = 0; i < 80; ++i) deep = json::array({deep});
    json jd = j;
    jd["extra"] = deep;
    auto rd = open_gift_wrap(wrap_raw_rumor_json(jd.dump(), alice(), bob()), bob());
    CHECK(rd.error().code == "DM_INVALID_RUMOR");
    json jm = j;
    jm["kind"] = "fourteen";
    CHECK(open_gift_wrap(wrap_raw_rumor_json(jm.dump(), alice(), bob()), bob()).error().code == "DM_INVALID_RUMOR");
    json ji = j;
    ji["content"] = "changed after the id was computed";
    CHECK(open_gift_wrap(wrap_raw_rumor_json(ji.dump(), alice(), bob()), bob()).error().code == "DM_INVALID_RUMOR");
    // The untampered rumor opens through the same path, and a sig member on a rumor is ignored.
    CHECK(open_gift_wrap(wrap_raw_rumor_json(j.dump(), alice(), bob()), bob()));
    json js = j;
    js["sig"] = "not a signature";
    CHECK(open_gift_wrap(wrap_raw_rumor_json(js.dump(), alice(), bob()), bob()));
  }
  SECTION("payload ceiling") {
    auto w = wrap_private_dm(alice(), bob().public_key(), std::string(2000, 'a'));
    REQUIRE(w);
    auto r = open_gift_wrap(w->wrap, bob(), 1000);
    CHECK(r.error().code == "DM_DECRYPT_FAILED");
    CHECK(r.error().details.at("cause") == "NIP44_PAYLOAD_TOO_LARGE");
  }
}

TEST_CASE("NIP-04 DM: build and open, refusals") {
  auto ev = make_nip04_dm(alice(), bob().public_key(), "deny 7F3K", fixed(kNow));
  REQUIRE(ev);
  CHECK(ev->kind == 4);
  CHECK(ev->created_at == kNow);
  CHECK(ev->pubkey == alice().public_key_hex());
  REQUIRE(ev->tags.size() == 1);
  CHECK(ev->tags[0] == Tag{"p", bob().public_key_hex()});
  CHECK(ev->content.find("?iv=") != std::string::npos);
  REQUIRE(verify_event(*ev));
  auto again = make_nip04_dm(alice(), bob().public_key(), "deny 7F3K", fixed(kNow));
  CHECK(serialize_event(*again) == serialize_event(*ev));

  auto got = open_nip04_dm(*ev, bob());
  REQUIRE(got);
  CHECK(got->kind == 4);
  CHECK(got->content == "deny 7F3K");
  CHECK(got->sender_pubkey == alice().public_key_hex());
  CHECK(got->id == ev->id);
  CHECK(got->created_at == kNow);
  CHECK(got->wrap_id.empty());

  SECTION("not addressed to the reader") { CHECK(open_nip04_dm(*ev, eve()).error().code == "DM_NOT_ADDRESSED"); }
  SECTION("tampered") {
    Event e = *ev;
    e.content[0] = e.content[0] == 'A' ? 'B' : 'A';
    CHECK(open_nip04_dm(e, bob()).error().code == "DM_INVALID_EVENT");
  }
  SECTION("wrong kind") {
    Event e = *ev;
    e.kind = 1059;
    CHECK(open_nip04_dm(e, bob()).error().code == "DM_WRONG_KIND");
  }
  SECTION("addressed to the reader but encrypted for someone else") {
    auto to_eve = make_nip04_dm(alice(), eve().public_key(), "for eve only");
    REQUIRE(to_eve);
    Event e = *to_eve;
    e.tags = {{"p", bob().public_key_hex()}};
    REQUIRE(sign_event(e, alice()));
    auto r = open_nip04_dm(e, bob());
    // NIP-04 has no MAC: a wrong key almost always shows as bad padding / invalid UTF-8; never as Eve's plaintext.
    if (r) CHECK(r->content != "for eve only");
    else CHECK(r.error().code == "DM_DECRYPT_FAILED");
  }
}
