// Macaroons (from paid APIs' L402 challenges): macaroon::decode_bytes on the raw input (V2 binary, V1 packets,
// V2 JSON) and macaroon::decode on it as base64 text; L402 identifiers (l402_binding on the macaroon and on the
// raw input as an identifier); the first-party caveat readers. Round trips: decode → encode_v2 → decode gives the
// same macaroon, and encode_v2 is a fixed point; the HMAC chain of a re-minted macaroon verifies; an attenuated
// macaroon keeps a valid chain.
#include "fuzz.h"
#include "macaroon/macaroon.h"

using namespace sw;
namespace mac = sw::macaroon;

namespace {

bool same(const mac::Macaroon& a, const mac::Macaroon& b) {
  if (a.location != b.location || a.identifier != b.identifier || a.signature != b.signature) return false;
  if (a.caveats.size() != b.caveats.size()) return false;
  for (size_t i = 0; i < a.caveats.size(); ++i) {
    const auto& x = a.caveats[i];
    const auto& y = b.caveats[i];
    if (x.identifier != y.identifier || x.vid != y.vid || x.location != y.location) return false;
  }
  return true;
}

void readers(const mac::Macaroon& m) {
  (void)mac::conditions(m);
  (void)mac::caveats_map(m);
  (void)mac::caveat_value(m, "services");
  (void)mac::valid_until(m, "svc");
  (void)mac::earliest_valid_until(m);
  (void)mac::services(m);
  (void)mac::capabilities(m, "svc");
  auto b = mac::l402_binding(m);
  if (b) {
    SW_FUZZ_CHECK(b->payment_hash_hex.size() == 64);
    SW_FUZZ_CHECK(b->identifier.version == 0);
  } else {
    SW_FUZZ_CHECK(b.error().code == mac::kIdentifierUnreadable);
  }
}

void round_trip(const mac::Macaroon& m) {
  const Bytes enc = mac::encode_v2(m);
  auto back = mac::decode_bytes(enc);
  SW_FUZZ_CHECK(back.ok());
  SW_FUZZ_CHECK(back->format == mac::Format::V2);
  SW_FUZZ_CHECK(same(m, *back));
  SW_FUZZ_CHECK(mac::encode_v2(*back) == enc);
  auto text = mac::decode(mac::encode_v2_base64(m, true, false));
  SW_FUZZ_CHECK(text.ok() && same(m, *text));

  // The chain: a macaroon minted over the same identifier and first-party caveats verifies with its root key,
  // and stays valid after holder-side attenuation.
  static const Bytes kRoot = to_bytes("fuzz root key");
  std::vector<std::string> cavs;
  for (const auto& c : m.caveats)
    if (c.first_party()) cavs.push_back(to_string(c.identifier));
  const mac::Macaroon minted = mac::mint(kRoot, m.identifier, m.location, cavs);
  SW_FUZZ_CHECK(mac::signature_valid(minted, kRoot));
  SW_FUZZ_CHECK(mac::verify_exact(minted, kRoot, cavs).ok());
  const mac::Macaroon att = mac::add_first_party_caveat(minted, "fuzz=1");
  SW_FUZZ_CHECK(mac::signature_valid(att, kRoot));
  (void)mac::signature_valid(m, kRoot);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Bytes raw(data, data + size);
  auto m = mac::decode_bytes(raw);
  if (m) {
    readers(*m);
    round_trip(*m);
  } else {
    SW_FUZZ_CHECK(m.error().code == "INVALID_MACAROON");
  }
  auto t = mac::decode(fuzz::as_text(data, size));
  if (t) {
    readers(*t);
    round_trip(*t);
  }
  auto id = mac::decode_l402_identifier(raw);
  if (id) SW_FUZZ_CHECK(mac::encode_l402_identifier(*id) == raw);
  (void)mac::l402_binding(raw);
  return 0;
}
