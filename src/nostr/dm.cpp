// Direct messages: NIP-17 private DMs in NIP-59 gift wraps (rumor → seal → wrap, and back) and NIP-04 kind-4 DMs.
// Written from the NIP-17, NIP-59 and NIP-04 texts; the crypto is sw_crypto's (NIP-44 v2, NIP-04, BIP-340).
#include <cstring>

#include "nostr/nostr.h"

namespace sw::nostr {

namespace {

void fill_random(const DmBuildOptions& o, uint8_t* out, size_t n) {
  if (o.random) o.random(out, n);
  else crypto::random_bytes(out, n);
}

int64_t now_of(const DmBuildOptions& o) { return o.now ? *o.now : Clock::system().now_unix(); }

// now − uniform[0, kWrapMaxBackdateS] (the modulo bias of a 64-bit draw over 172,801 values is ~1e-14), >= 0.
int64_t backdated(const DmBuildOptions& o) {
  uint8_t b[8];
  fill_random(o, b, sizeof b);
  uint64_t r = 0;
  for (uint8_t x : b) r = (r << 8) | x;
  const int64_t t = now_of(o) - static_cast<int64_t>(r % static_cast<uint64_t>(kWrapMaxBackdateS + 1));
  return t < 0 ? 0 : t;
}

Status sign_with(Event& ev, const crypto::SecretKey& sk, const DmBuildOptions& o) {
  if (!o.random) return sign_event(ev, sk);
  uint8_t aux[32];
  fill_random(o, aux, sizeof aux);
  return sign_event_with_aux(ev, sk, aux);
}

Result<std::string> nip44_seal_to(std::string_view plaintext, const crypto::SecretKey& sk,
                                  const crypto::XOnlyPubKey& peer, const DmBuildOptions& o) {
  auto ck = crypto::nip44::conversation_key(sk, peer);
  if (!ck) return ck.error();
  std::optional<std::array<uint8_t, 32>> nonce;
  if (o.random) {
    nonce.emplace();
    fill_random(o, nonce->data(), nonce->size());
  }
  return crypto::nip44::encrypt(plaintext, *ck, nonce);
}

Status check_text(std::string_view text) {
  if (text.empty()) return make_error("INVALID_ARGUMENT", "message text is empty");
  if (text.size() > kMaxDmTextBytes)
    return make_error("INVALID_ARGUMENT", "message text is longer than " + std::to_string(kMaxDmTextBytes) + " bytes");
  if (!crypto::valid_utf8(text)) return make_error("INVALID_ARGUMENT", "message text is not valid UTF-8");
  return ok_status();
}

// The rumor as the JSON object NIP-59 encrypts: every event field but sig (the rumor is never signed).
std::string rumor_json(const Event& r) {
  std::string out;
  out.reserve(r.content.size() + 300);
  out += "{\"id\":" + json_string(r.id);
  out += ",\"pubkey\":" + json_string(r.pubkey);
  out += ",\"created_at\":" + std::to_string(r.created_at);
  out += ",\"kind\":" + std::to_string(r.kind);
  out += ",\"tags\":[";
  for (size_t i = 0; i < r.tags.size(); ++i) {
    if (i) out += ',';
    out += '[';
    for (size_t k = 0; k < r.tags[i].size(); ++k) {
      if (k) out += ',';
      out += json_string(r.tags[i][k]);
    }
    out += ']';
  }
  out += "],\"content\":" + json_string(r.content) + '}';
  return out;
}

Error dm_error(const char* code, std::string msg, const Error* cause = nullptr, const char* layer = nullptr) {
  json details = json::object();
  if (cause) details["cause"] = cause->code;
  if (layer) details["layer"] = layer;
  return make_error(code, std::move(msg), std::move(details));
}

// NIP-44 decryption of `payload`, written by `author_hex` (already verified to be a key on the curve).
Result<std::string> nip44_open(const crypto::SecretKey& sk, const std::string& author_hex, const std::string& payload,
                               size_t max_chars, const char* layer) {
  auto pk = crypto::parse_xonly_pubkey_hex(author_hex);
  if (!pk) return dm_error("DM_DECRYPT_FAILED", std::string(layer) + ": author is not a valid public key", nullptr, layer);
  auto ck = crypto::nip44::conversation_key(sk, *pk);
  if (!ck) return dm_error("DM_DECRYPT_FAILED", std::string(layer) + ": no conversation key", &ck.error(), layer);
  auto pt = crypto::nip44::decrypt(payload, *ck, max_chars);
  if (!pt) return dm_error("DM_DECRYPT_FAILED", std::string(layer) + " could not be decrypted: " + pt.error().code,
                           &pt.error(), layer);
  return pt;
}

// Decrypted JSON: depth-checked before parsing (copies and comparisons of a parsed tree recurse per level).
Result<json> parse_inner(const std::string& text, const char* code, const char* what) {
  if (json_nesting_exceeds(text, kMaxDmJsonDepth))
    return make_error(code, std::string(what) + " nests JSON deeper than " + std::to_string(kMaxDmJsonDepth) +
                                " levels");
  try {
    json j = json::parse(text);
    if (!j.is_object()) return make_error(code, std::string(what) + " is not a JSON object");
    return j;
  } catch (const json::exception&) {
    return make_error(code, std::string(what) + " is not valid JSON");
  }
}

}  // namespace

Event make_rumor(std::string_view pubkey_hex, int kind, std::vector<Tag> tags, std::string content,
                 int64_t created_at) {
  Event r;
  r.pubkey = std::string(pubkey_hex);
  r.kind = kind;
  r.tags = std::move(tags);
  r.content = std::move(content);
  r.created_at = created_at;
  r.id = compute_id(r);
  return r;
}

Result<Event> seal_rumor(const Event& rumor, const crypto::SecretKey& sender, const crypto::XOnlyPubKey& recipient,
                         const DmBuildOptions& o) {
  if (!sender.valid()) return make_error("INVALID_SECRET_KEY", "sender key is not set");
  auto ct = nip44_seal_to(rumor_json(rumor), sender, recipient, o);
  if (!ct) return ct.error();
  Event seal;
  seal.kind = kKindSeal;
  seal.created_at = backdated(o);
  seal.content = std::move(*ct);
  if (auto s = sign_with(seal, sender, o); !s) return s.error();
  return seal;
}

Result<Event> gift_wrap(const Event& seal, const crypto::XOnlyPubKey& recipient, const DmBuildOptions& o) {
  // A fresh key for every wrap: nothing on the outside links the wrap to its sender.
  std::optional<crypto::SecretKey> eph;
  for (int tries = 0; tries < 16 && !eph; ++tries) {
    uint8_t b[32];
    fill_random(o, b, sizeof b);
    auto k = crypto::SecretKey::from_bytes(b, sizeof b);
    crypto::wipe(b, sizeof b);
    if (k) eph.emplace(std::move(*k));
  }
  if (!eph) return make_error("DM_RANDOM_FAILED", "the random source gave no valid ephemeral key");
  auto ct = nip44_seal_to(serialize_event(seal), *eph, recipient, o);
  if (!ct) return ct.error();
  Event wrap;
  wrap.kind = kKindGiftWrap;
  wrap.created_at = backdated(o);
  wrap.tags = {{"p", hex_encode(recipient.data(), recipient.size())}};
  wrap.content = std::move(*ct);
  if (auto s = sign_with(wrap, *eph, o); !s) return s.error();
  return wrap;
}

Result<WrappedDm> wrap_private_dm(const crypto::SecretKey& sender, const crypto::XOnlyPubKey& recipient,
                                  std::string_view text, const DmBuildOptions& o) {
  if (auto s = check_text(text); !s) return s.error();
  if (!sender.valid()) return make_error("INVALID_SECRET_KEY", "sender key is not set");
  if (!crypto::xonly_pubkey_valid(recipient.data()))
    return make_error("INVALID_PUBLIC_KEY", "recipient is not a valid public key");
  WrappedDm out;
  out.rumor = make_rumor(sender.public_key_hex(), kKindPrivateDm,
                         {{"p", hex_encode(recipient.data(), recipient.size())}}, std::string(text), now_of(o));
  auto seal = seal_rumor(out.rumor, sender, recipient, o);
  if (!seal) return seal.error();
  auto wrap = gift_wrap(*seal, recipient, o);
  if (!wrap) return wrap.error();
  out.wrap = std::move(*wrap);
  return out;
}

Result<Event> make_nip04_dm(const crypto::SecretKey& sender, const crypto::XOnlyPubKey& recipient,
                            std::string_view text, const DmBuildOptions& o) {
  if (auto s = check_text(text); !s) return s.error();
  if (!sender.valid()) return make_error("INVALID_SECRET_KEY", "sender key is not set");
  std::optional<std::array<uint8_t, 16>> iv;
  if (o.random) {
    iv.emplace();
    fill_random(o, iv->data(), iv->size());
  }
  auto ct = crypto::nip04::encrypt(text, sender, recipient, iv);
  if (!ct) return ct.error();
  Event ev;
  ev.kind = kKindNip04Dm;
  ev.created_at = now_of(o);
  ev.tags = {{"p", hex_encode(recipient.data(), recipient.size())}};
  ev.content = std::move(*ct);
  if (auto s = sign_with(ev, sender, o); !s) return s.error();
  return ev;
}

Result<ReceivedDm> open_gift_wrap(const Event& wrap, const crypto::SecretKey& recipient, size_t max_chars) {
  if (!recipient.valid()) return make_error("INVALID_SECRET_KEY", "recipient key is not set");
  if (wrap.kind != kKindGiftWrap) return dm_error("DM_WRONG_KIND", "not a gift wrap (kind 1059)");
  if (auto s = verify_event(wrap); !s)
    return dm_error("DM_INVALID_EVENT", "gift wrap fails verification: " + s.error().code, &s.error());

  auto seal_text = nip44_open(recipient, wrap.pubkey, wrap.content, max_chars, "wrap");
  if (!seal_text) return seal_text.error();
  auto seal_json = parse_inner(*seal_text, "DM_INVALID_SEAL", "seal");
  crypto::wipe(*seal_text);
  if (!seal_json) return seal_json.error();
  auto seal = event_from_json(*seal_json);
  if (!seal) return dm_error("DM_INVALID_SEAL", "seal is not an event: " + seal.error().message, &seal.error());
  if (seal->kind != kKindSeal) return dm_error("DM_WRONG_KIND", "gift wrap does not contain a seal (kind 13)");
  if (auto s = verify_event(*seal); !s)
    return dm_error("DM_INVALID_SEAL", "seal fails verification: " + s.error().code, &s.error());

  auto rumor_text = nip44_open(recipient, seal->pubkey, seal->content, max_chars, "seal");
  if (!rumor_text) return rumor_text.error();
  auto rumor_j = parse_inner(*rumor_text, "DM_INVALID_RUMOR", "rumor");
  crypto::wipe(*rumor_text);
  if (!rumor_j) return rumor_j.error();
  // A rumor has no signature (one found is ignored): event_from_json's strict checks apply to every other field.
  (*rumor_j)["sig"] = std::string(128, '0');
  auto rumor = event_from_json(*rumor_j);
  if (!rumor) return dm_error("DM_INVALID_RUMOR", "rumor is malformed: " + rumor.error().message, &rumor.error());
  rumor->sig.clear();
  if (compute_id(*rumor) != rumor->id) return dm_error("DM_INVALID_RUMOR", "rumor id does not match its content");
  if (rumor->pubkey != seal->pubkey)
    return dm_error("DM_SENDER_MISMATCH", "rumor author differs from the seal's signer (impersonation attempt)");
  if (rumor->kind != kKindPrivateDm) return dm_error("DM_WRONG_KIND", "rumor is not a private direct message (kind 14)");

  ReceivedDm out;
  out.kind = rumor->kind;
  out.sender_pubkey = std::move(rumor->pubkey);
  out.content = std::move(rumor->content);
  out.created_at = rumor->created_at;
  out.id = std::move(rumor->id);
  out.tags = std::move(rumor->tags);
  out.wrap_id = wrap.id;
  return out;
}

Result<ReceivedDm> open_nip04_dm(const Event& dm, const crypto::SecretKey& recipient, size_t max_chars) {
  if (!recipient.valid()) return make_error("INVALID_SECRET_KEY", "recipient key is not set");
  if (dm.kind != kKindNip04Dm) return dm_error("DM_WRONG_KIND", "not a NIP-04 direct message (kind 4)");
  if (auto s = verify_event(dm); !s)
    return dm_error("DM_INVALID_EVENT", "direct message fails verification: " + s.error().code, &s.error());
  const std::string me = recipient.public_key_hex();
  bool addressed = false;
  for (const auto& t : dm.tags)
    if (t.size() >= 2 && t[0] == "p" && t[1] == me) addressed = true;
  if (!addressed) return dm_error("DM_NOT_ADDRESSED", "direct message is not p-tagged to this key");
  auto pk = crypto::parse_xonly_pubkey_hex(dm.pubkey);
  if (!pk) return dm_error("DM_INVALID_EVENT", "author is not a valid public key");
  auto pt = crypto::nip04::decrypt(dm.content, recipient, *pk, max_chars);
  if (!pt) return dm_error("DM_DECRYPT_FAILED", "direct message could not be decrypted: " + pt.error().code,
                           &pt.error(), "nip04");
  ReceivedDm out;
  out.kind = dm.kind;
  out.sender_pubkey = dm.pubkey;
  out.content = std::move(*pt);
  out.created_at = dm.created_at;
  out.id = dm.id;
  out.tags = dm.tags;
  return out;
}

}  // namespace sw::nostr
